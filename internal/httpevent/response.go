package httpevent

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// response is a function result ready to send.
type response struct {
	status int
	header http.Header // cookies already in it as Set-Cookie
	body   []byte
}

// WriteResponse sends the function's result payload as the HTTP response,
// by the format 2.0 rules (see the package comment). A payload that cannot
// be sent faithfully gets 502 {"message":"Internal Server Error"} and an
// error wrapping ErrBadResponse, for the caller to log. Other errors are
// the ResponseWriter's.
func WriteResponse(w http.ResponseWriter, payload []byte) error {
	resp, err := parseResponse(payload)
	if err != nil {
		WriteFunctionError(w)
		return err
	}
	h := w.Header()
	for name, vals := range resp.header {
		h[name] = vals
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	body := resp.body
	if bodyAllowed(resp.status) {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	} else {
		body = nil
	}
	w.WriteHeader(resp.status)
	if len(body) == 0 {
		return nil
	}
	if _, err := w.Write(body); err != nil && !errors.Is(err, http.ErrBodyNotAllowed) {
		return err // a HEAD request is not a failure
	}
	return nil
}

// WriteFunctionError answers a request whose function failed (the invoke
// carried X-Amz-Function-Error) the way API Gateway does.
func WriteFunctionError(w http.ResponseWriter) {
	WriteMessage(w, http.StatusBadGateway, "Internal Server Error")
}

// WriteMessage writes API Gateway's own error shape, {"message":"..."},
// e.g. 404 "Not Found" or 413 "Request Entity Too Large".
func WriteMessage(w http.ResponseWriter, status int, message string) {
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{message})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified
}

func badResponse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadResponse, fmt.Sprintf(format, args...))
}

func parseResponse(payload []byte) (*response, error) {
	if len(payload) > MaxPayload {
		return nil, badResponse("%d bytes is over the %d-byte limit", len(payload), MaxPayload)
	}
	if !json.Valid(payload) {
		return nil, badResponse("not JSON")
	}
	trimmed := bytes.TrimLeft(payload, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &fields); err != nil {
			return nil, badResponse("%v", err)
		}
		if sc, ok := fields["statusCode"]; ok && !isNull(sc) {
			return structured(fields)
		}
	}
	// Inferred: the whole payload, verbatim, is a JSON body.
	return &response{status: http.StatusOK, header: http.Header{}, body: payload}, nil
}

func structured(fields map[string]json.RawMessage) (*response, error) {
	resp := &response{header: http.Header{}}
	status, err := statusCode(fields["statusCode"])
	if err != nil {
		return nil, err
	}
	resp.status = status

	// multiValueHeaders is deliberately not read: API Gateway ignores it in
	// format 2.0.
	var setCookie []string
	if raw := fields["headers"]; !isNull(raw) {
		var headers map[string]json.RawMessage
		if err := json.Unmarshal(raw, &headers); err != nil {
			return nil, badResponse("headers: not an object")
		}
		names := make([]string, 0, len(headers))
		for name := range headers {
			names = append(names, name)
		}
		slices.Sort(names) // names differing only in case: a fixed winner
		for _, name := range names {
			v, ok, err := scalar(headers[name])
			if err != nil {
				return nil, badResponse("header %q: %v", name, err)
			}
			if !ok {
				continue
			}
			if !validHeaderName(name) || !validHeaderValue(v) {
				return nil, badResponse("header %q: invalid", name)
			}
			switch lower := strings.ToLower(name); {
			case lower == "set-cookie":
				setCookie = append(setCookie, v)
			case hopByHop[lower], lower == "content-length":
				// The transport's to decide; a wrong Content-Length would
				// cut the body short.
			default:
				resp.header.Set(name, v)
			}
		}
	}

	if raw := fields["cookies"]; !isNull(raw) {
		var cookies []json.RawMessage
		if err := json.Unmarshal(raw, &cookies); err != nil {
			return nil, badResponse("cookies: not an array")
		}
		for _, c := range cookies {
			v, ok, err := scalar(c)
			if err != nil {
				return nil, badResponse("cookies: %v", err)
			}
			if !ok {
				continue
			}
			if !validHeaderValue(v) {
				return nil, badResponse("cookie %q: invalid", v)
			}
			resp.header.Add("Set-Cookie", v)
		}
	}
	for _, v := range setCookie {
		resp.header.Add("Set-Cookie", v)
	}

	body, _, err := scalar(fields["body"])
	if err != nil {
		return nil, badResponse("body: %v", err)
	}
	b64, err := boolean(fields["isBase64Encoded"])
	if err != nil {
		return nil, err
	}
	if b64 {
		resp.body, err = decodeBase64(body)
		if err != nil {
			return nil, badResponse("body: %v", err)
		}
	} else {
		resp.body = []byte(body)
	}
	return resp, nil
}

// statusCode accepts a JSON integer or a string holding one. Go cannot send
// a final 1xx, and 6xx and beyond are not HTTP.
func statusCode(raw json.RawMessage) (int, error) {
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, badResponse("statusCode: %v", err)
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || f < 200 || f > 599 {
		return 0, badResponse("statusCode %s is not an HTTP status in 200-599", raw)
	}
	return int(f), nil
}

// scalar reads a JSON string, number or boolean as text, coercing like the
// Jackson parser behind API Gateway; ok is false for null or absence.
func scalar(raw json.RawMessage) (v string, ok bool, err error) {
	if isNull(raw) {
		return "", false, nil
	}
	switch raw[0] {
	case '"':
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", false, err
		}
		return v, true, nil
	case '{', '[':
		return "", false, errors.New("want a string, got an object or array")
	}
	return string(raw), true, nil // number, true or false, as written
}

func boolean(raw json.RawMessage) (bool, error) {
	v, ok, err := scalar(raw)
	if err != nil {
		return false, badResponse("isBase64Encoded: %v", err)
	}
	if !ok {
		return false, nil
	}
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, badResponse("isBase64Encoded %s is not a boolean", raw)
}

// decodeBase64 takes standard base64 with or without padding; line breaks
// are ignored.
func decodeBase64(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// validHeaderName: a token (RFC 9110 section 5.1).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// validHeaderValue: no control bytes but tab (RFC 9110 section 5.5), so no
// CR or LF to split the response with.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

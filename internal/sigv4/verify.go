package sigv4

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Errors returned by Verify. Each is wrapped with the reason; test with
// errors.Is.
var (
	ErrMissing    = errors.New("sigv4: missing authentication")
	ErrMalformed  = errors.New("sigv4: malformed authorization")
	ErrUnknownKey = errors.New("sigv4: unknown access key")
	ErrMismatch   = errors.New("sigv4: signature does not match")
	ErrExpired    = errors.New("sigv4: signature expired")
)

const (
	defaultMaxSkew = 15 * time.Minute
	maxPresignAge  = 7 * 24 * time.Hour
)

// SecretLookup returns the secret access key for an access key id, or an
// error wrapping ErrUnknownKey when there is none.
type SecretLookup func(ctx context.Context, accessKeyID string) (secret string, err error)

// Verifier checks SigV4 signatures. The zero value of every field but Lookup
// is usable.
type Verifier struct {
	Lookup   SecretLookup
	Services []string         // accepted signing names in the scope, e.g. {"lambda", "ember"}; empty = any
	MaxSkew  time.Duration    // allowed clock difference either way; 15m when zero
	Now      func() time.Time // time.Now when nil
}

// Result is the identity and scope a verified request was signed with.
type Result struct {
	AccessKeyID, Region, Service string
	Time                         time.Time
}

// auth is the signature material of a request, from either form.
type auth struct {
	accessKeyID, date, region, service string
	signedHeaders                      []string
	signature                          string
	amzDate                            string
	time                               time.Time
	presigned                          bool
	expires                            time.Duration // presigned only; 0 when X-Amz-Expires is absent
	query                              []queryPair   // the query to sign (without X-Amz-Signature)
}

// Verify checks r, whose body has already been read into body; r.Body is not
// touched. Once the authorization parses, the returned Result names the
// claimed identity even when an error is returned, for logging.
func (v *Verifier) Verify(ctx context.Context, r *http.Request, body []byte) (Result, error) {
	if r == nil || r.URL == nil {
		return Result{}, fmt.Errorf("%w: no request", ErrMalformed)
	}
	path, _ := wireTarget(r)
	a, res, secret, err := v.precheck(ctx, r)
	if err != nil {
		return res, err
	}

	headers := signedHeaderValues(r, a.signedHeaders)
	payloads, err := payloadHashes(a, headers, body)
	if err != nil {
		return res, err
	}

	key := signingKey(secret, a.date, a.region, a.service)
	credScope := scope(a.date, a.region, a.service)
	q := request{
		method:        method(r),
		escapedPath:   path,
		query:         a.query,
		signedHeaders: a.signedHeaders,
		headers:       headers,
	}
	ok := 0
	for _, p := range payloads {
		q.payloadHash = p
		var prev string
		for _, conv := range conventions {
			c := q.canonical(conv)
			if c == prev {
				continue
			}
			prev = c
			sig := signature(key, a.amzDate, credScope, c)
			ok |= subtle.ConstantTimeCompare([]byte(sig), []byte(a.signature))
		}
	}
	if ok != 1 {
		return res, ErrMismatch
	}
	return res, nil
}

// Precheck does everything Verify does that needs no body: it parses the
// authorization, checks the scope and the clock, and looks the key up. A
// server calls it before reading a (possibly large) body, so unauthenticated
// clients cannot make it read one; Verify must still follow.
func (v *Verifier) Precheck(ctx context.Context, r *http.Request) (Result, error) {
	if r == nil || r.URL == nil {
		return Result{}, fmt.Errorf("%w: no request", ErrMalformed)
	}
	_, res, _, err := v.precheck(ctx, r)
	return res, err
}

func (v *Verifier) precheck(ctx context.Context, r *http.Request) (auth, Result, string, error) {
	_, rawQuery := wireTarget(r)
	a, err := parseAuth(r, rawQuery)
	if err != nil {
		return a, Result{}, "", err
	}
	res := Result{AccessKeyID: a.accessKeyID, Region: a.region, Service: a.service, Time: a.time}
	if len(v.Services) > 0 && !slices.Contains(v.Services, a.service) {
		return a, res, "", fmt.Errorf("%w: credential should be scoped to one of the services %q, not %q", ErrMalformed, v.Services, a.service)
	}
	if err := v.checkTime(a); err != nil {
		return a, res, "", err
	}
	if v.Lookup == nil {
		return a, res, "", errors.New("sigv4: Verifier.Lookup is not set")
	}
	secret, err := v.Lookup(ctx, a.accessKeyID)
	if errors.Is(err, ErrUnknownKey) {
		return a, res, "", err
	}
	if err != nil {
		return a, res, "", fmt.Errorf("sigv4: look up access key %q: %w", a.accessKeyID, err)
	}
	return a, res, secret, nil
}

// wireTarget returns the escaped path and raw query as the client sent them.
// On a server the request line is in RequestURI; it is preferred over r.URL,
// whose EscapedPath re-escapes paths that Go considers invalidly encoded
// and which middleware (http.StripPrefix) may have rewritten.
func wireTarget(r *http.Request) (path, rawQuery string) {
	if r.RequestURI != "" && r.RequestURI != "*" {
		target := r.RequestURI
		if !strings.HasPrefix(target, "/") {
			// absolute-form, as sent to proxies
			if u, err := url.ParseRequestURI(target); err == nil {
				return u.EscapedPath(), u.RawQuery
			}
		} else {
			path, rawQuery, _ = strings.Cut(target, "?")
			return path, rawQuery
		}
	}
	return r.URL.EscapedPath(), r.URL.RawQuery
}

func parseAuth(r *http.Request, rawQuery string) (auth, error) {
	authz := r.Header.Values("Authorization")
	hasHeader := len(authz) > 0 && strings.TrimSpace(strings.Join(authz, "")) != ""
	query, qerr := parseQuery(rawQuery)
	hasQuery := slices.ContainsFunc(query, func(p queryPair) bool { return p.name == "X-Amz-Algorithm" })
	if qerr != nil {
		hasQuery = strings.Contains(rawQuery, "X-Amz-Algorithm")
	}
	switch {
	case !hasHeader && !hasQuery:
		return auth{}, ErrMissing
	case qerr != nil:
		return auth{}, fmt.Errorf("%w: %v", ErrMalformed, qerr)
	case hasHeader && hasQuery:
		return auth{}, fmt.Errorf("%w: only one auth mechanism allowed; found both an Authorization header and X-Amz-Algorithm", ErrMalformed)
	case hasHeader:
		if len(authz) > 1 {
			return auth{}, fmt.Errorf("%w: more than one Authorization header", ErrMalformed)
		}
		return parseHeaderAuth(authz[0], r.Header, query)
	default:
		return parsePresigned(query)
	}
}

// parseHeaderAuth parses
// "AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=hex".
func parseHeaderAuth(h string, header http.Header, query []queryPair) (auth, error) {
	alg, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if alg != algorithm {
		return auth{}, fmt.Errorf("%w: unsupported algorithm %q", ErrMalformed, alg)
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return auth{}, fmt.Errorf("%w: Authorization element %q is not key=value", ErrMalformed, strings.TrimSpace(part))
		}
		switch k {
		case "Credential", "SignedHeaders", "Signature":
		default:
			return auth{}, fmt.Errorf("%w: unexpected Authorization element %q", ErrMalformed, k)
		}
		if _, dup := fields[k]; dup {
			return auth{}, fmt.Errorf("%w: repeated Authorization element %q", ErrMalformed, k)
		}
		fields[k] = val
	}
	dates := header.Values("X-Amz-Date")
	if len(dates) != 1 {
		return auth{}, fmt.Errorf("%w: want exactly one X-Amz-Date header, got %d", ErrMalformed, len(dates))
	}
	a := auth{query: query}
	if err := a.fill(fields["Credential"], fields["SignedHeaders"], fields["Signature"], dates[0]); err != nil {
		return auth{}, err
	}
	return a, nil
}

func parsePresigned(query []queryPair) (auth, error) {
	params := map[string]string{}
	a := auth{presigned: true}
	for _, p := range query {
		if strings.HasPrefix(p.name, "X-Amz-") {
			if _, dup := params[p.name]; dup {
				return auth{}, fmt.Errorf("%w: repeated query parameter %s", ErrMalformed, p.name)
			}
			params[p.name] = p.value
		}
		if p.name != "X-Amz-Signature" {
			a.query = append(a.query, p)
		}
	}
	for _, name := range []string{"X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
		if _, ok := params[name]; !ok {
			return auth{}, fmt.Errorf("%w: missing query parameter %s", ErrMalformed, name)
		}
	}
	if alg := params["X-Amz-Algorithm"]; alg != algorithm {
		return auth{}, fmt.Errorf("%w: unsupported algorithm %q", ErrMalformed, alg)
	}
	if exp, ok := params["X-Amz-Expires"]; ok {
		n, err := strconv.ParseInt(exp, 10, 64)
		if err != nil || n <= 0 || time.Duration(n)*time.Second > maxPresignAge {
			return auth{}, fmt.Errorf("%w: X-Amz-Expires must be a number of seconds from 1 to %d, got %q", ErrMalformed, int64(maxPresignAge/time.Second), exp)
		}
		a.expires = time.Duration(n) * time.Second
	}
	if err := a.fill(params["X-Amz-Credential"], params["X-Amz-SignedHeaders"], params["X-Amz-Signature"], params["X-Amz-Date"]); err != nil {
		return auth{}, err
	}
	return a, nil
}

func (a *auth) fill(credential, signedHeaders, sig, amzDate string) error {
	parts := strings.Split(credential, "/")
	if len(parts) != 5 || parts[0] == "" || parts[2] == "" || parts[3] == "" || parts[4] != terminator {
		return fmt.Errorf("%w: credential %q is not AKID/DATE/REGION/SERVICE/aws4_request", ErrMalformed, credential)
	}
	a.accessKeyID, a.date, a.region, a.service = parts[0], parts[1], parts[2], parts[3]
	if _, err := time.Parse(dateFormat, a.date); err != nil || len(a.date) != len(dateFormat) {
		return fmt.Errorf("%w: credential date %q is not YYYYMMDD", ErrMalformed, a.date)
	}

	t, err := time.Parse(timeFormat, amzDate)
	if err != nil || len(amzDate) != len(timeFormat) {
		return fmt.Errorf("%w: X-Amz-Date %q is not in the form 20060102T150405Z", ErrMalformed, amzDate)
	}
	a.amzDate, a.time = amzDate, t
	if amzDate[:len(dateFormat)] != a.date {
		return fmt.Errorf("%w: credential date %s does not match X-Amz-Date %s", ErrMalformed, a.date, amzDate)
	}

	names := strings.Split(signedHeaders, ";")
	for i, n := range names {
		if !isLowerToken(n) {
			return fmt.Errorf("%w: SignedHeaders %q: %q is not a lower-case header name", ErrMalformed, signedHeaders, n)
		}
		if i > 0 && names[i-1] >= n {
			return fmt.Errorf("%w: SignedHeaders %q is not sorted and unique", ErrMalformed, signedHeaders)
		}
	}
	if !slices.Contains(names, "host") {
		return fmt.Errorf("%w: SignedHeaders %q does not include host", ErrMalformed, signedHeaders)
	}
	a.signedHeaders = names

	if len(sig) != 64 || strings.Trim(sig, "0123456789abcdef") != "" {
		return fmt.Errorf("%w: signature is not 64 lower-case hex digits", ErrMalformed)
	}
	a.signature = sig
	return nil
}

// isLowerToken reports whether s is a non-empty RFC 9110 token without
// upper-case letters.
func isLowerToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

func (v *Verifier) checkTime(a auth) error {
	skew := v.MaxSkew
	if skew <= 0 {
		skew = defaultMaxSkew
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	n := now().UTC()
	if latest := n.Add(skew); a.time.After(latest) {
		return fmt.Errorf("%w: Signature not yet current: %s is still later than %s (%s + %s)",
			ErrExpired, a.amzDate, latest.Format(timeFormat), n.Format(timeFormat), fmtSkew(skew))
	}
	if a.presigned && a.expires > 0 {
		if end := a.time.Add(a.expires); n.After(end) {
			return fmt.Errorf("%w: Signature expired: presigned at %s for %d seconds, which ended at %s; it is now %s",
				ErrExpired, a.amzDate, int64(a.expires/time.Second), end.Format(timeFormat), n.Format(timeFormat))
		}
		return nil
	}
	if earliest := n.Add(-skew); a.time.Before(earliest) {
		return fmt.Errorf("%w: Signature expired: %s is now earlier than %s (%s - %s)",
			ErrExpired, a.amzDate, earliest.Format(timeFormat), n.Format(timeFormat), fmtSkew(skew))
	}
	return nil
}

// fmtSkew prints a skew the way Lambda does ("15 min.").
func fmtSkew(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%d min.", int64(d/time.Minute))
	}
	return d.String()
}

// signedHeaderValues collects the values of the headers the client signed.
// net/http moves some of them out of r.Header on the server: Host into
// r.Host, Transfer-Encoding into r.TransferEncoding.
func signedHeaderValues(r *http.Request, names []string) map[string][]string {
	m := make(map[string][]string, len(names))
	for _, name := range names {
		var vals []string
		switch name {
		case "host":
			host := r.Host
			if host == "" {
				host = r.URL.Host
			}
			vals = []string{host}
		default:
			vals = headerValues(r.Header, name)
			if len(vals) > 0 {
				break
			}
			switch {
			case name == "content-length" && r.ContentLength > 0:
				vals = []string{strconv.FormatInt(r.ContentLength, 10)}
			case name == "transfer-encoding" && len(r.TransferEncoding) > 0:
				vals = []string{strings.Join(r.TransferEncoding, ",")}
			}
		}
		m[name] = vals
	}
	return m
}

// headerValues returns every value of the header with the given lower-case
// name, also under keys that are not in canonical form (requests built by
// hand rather than parsed by net/http).
func headerValues(h http.Header, name string) []string {
	canon := http.CanonicalHeaderKey(name)
	vals := slices.Clone(h[canon])
	var others []string
	for k := range h {
		if k != canon && strings.EqualFold(k, name) {
			others = append(others, k)
		}
	}
	slices.Sort(others)
	for _, k := range others {
		vals = append(vals, h[k]...)
	}
	return vals
}

// payloadHashes returns the payload hashes the client may have signed. A
// signed X-Amz-Content-Sha256 that did not arrive is left to fail the
// signature comparison.
func payloadHashes(a auth, headers map[string][]string, body []byte) ([]string, error) {
	if declared := headers["x-amz-content-sha256"]; len(declared) > 0 {
		if len(declared) != 1 {
			return nil, fmt.Errorf("%w: want one X-Amz-Content-Sha256 header, got %d", ErrMalformed, len(declared))
		}
		d := strings.TrimSpace(declared[0])
		switch {
		case d == unsignedPayload:
		case len(d) == 64 && strings.Trim(strings.ToLower(d), "0123456789abcdef") == "":
			if !strings.EqualFold(d, hashHex(body)) {
				return nil, fmt.Errorf("%w: X-Amz-Content-Sha256 does not match the body", ErrMismatch)
			}
		default:
			return nil, fmt.Errorf("%w: unsupported X-Amz-Content-Sha256 %q", ErrMalformed, d)
		}
		return []string{d}, nil
	}
	if a.presigned {
		// The presigned form normally signs UNSIGNED-PAYLOAD; presigners
		// in the style of STS's sign the hash of the (empty) body instead.
		return []string{unsignedPayload, hashHex(body)}, nil
	}
	return []string{hashHex(body)}, nil
}

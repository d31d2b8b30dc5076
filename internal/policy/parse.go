package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
)

// Parse reads a policy document (or a request-time fragment) and
// validates it. It is stricter than encoding/json: keys must match
// exactly and appear once, unknown keys and data after the document are
// refused, and the document may be at most MaxDocument bytes. Every error
// wraps ErrInvalid and names the field at fault.
func Parse(data []byte) (*Policy, error) {
	if len(data) > MaxDocument {
		return nil, invalidf("document is %d bytes, at most %d allowed", len(data), MaxDocument)
	}
	if err := checkShape(data); err != nil {
		return nil, err
	}
	var p Policy
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields() // checkShape did this already; kept as a backstop
	if err := dec.Decode(&p); err != nil {
		return nil, decodeError(err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// objectKeys lists the keys the object at path may hold; nil for a path
// that is not an object. A test checks it against the struct tags.
func objectKeys(path string) []string {
	// A portion's policy is a document of its own, without portions.
	if rest, ok := portionPolicyPath(path); ok {
		keys := objectKeys(rest)
		if rest == "" {
			keys = slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return k == "portions" })
		}
		return keys
	}
	if strings.HasPrefix(path, "portions.") && strings.Count(path, ".") == 1 {
		return []string{"handler", "trust", "policy"}
	}
	switch path {
	case "":
		return []string{"network", "filesystem", "syscalls", "limits", "isolation", "services", "portions"}
	case "services":
		return []string{"secrets", "kv", "functions", "portions"}
	case "network":
		return []string{"mode", "allow", "maxConnections", "maxBytes"}
	case "filesystem":
		return []string{"tmpMB", "tmpPersists"}
	case "limits":
		return []string{"pids", "openFiles", "outputBytes"}
	}
	return nil
}

// portionPolicyPath turns "portions.NAME.policy[.rest]" into "rest".
func portionPolicyPath(path string) (string, bool) {
	after, ok := strings.CutPrefix(path, "portions.")
	if !ok {
		return "", false
	}
	_, rest, ok := strings.Cut(after, ".")
	if !ok {
		return "", false
	}
	if rest == "policy" {
		return "", true
	}
	rest, ok = strings.CutPrefix(rest, "policy.")
	return rest, ok
}

// checkShape walks the document's tokens and refuses what encoding/json
// would let through: keys in another case (it matches them
// case-insensitively), a key given twice (a person reading the file and
// the server could disagree on which counts), unknown keys, allow-list
// entries that are not strings, and data after the document. Types of
// other values are left to the decoder.
func checkShape(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err == io.EOF {
		return invalidf("empty document")
	}
	if err != nil {
		return decodeError(err)
	}
	if tok != json.Delim('{') {
		return invalidf("the document must be a JSON object")
	}
	if err := checkObject(dec, ""); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalidf("data after the document")
	}
	return nil
}

// checkObject checks the members of the object at path, whose '{' has
// been read, and reads its '}'.
func checkObject(dec *json.Decoder, path string) error {
	known := objectKeys(path)
	var seen []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return decodeError(err)
		}
		key := tok.(string) // inside an object, Token returns keys as strings
		field := join(path, key)
		switch {
		case path == "portions":
			// Keys are portion names; checked here because they become
			// part of the paths below.
			if !validName(key, 32, false) {
				return invalidf("%s: a portion name is 1–32 of a-z 0-9 -", field)
			}
		case !slices.Contains(known, key):
			if i := slices.IndexFunc(known, func(k string) bool { return strings.EqualFold(k, key) }); i >= 0 {
				return invalidf("%s: unknown field (did you mean %q?)", field, known[i])
			}
			return invalidf("%s: unknown field", field)
		}
		if slices.Contains(seen, key) {
			return invalidf("%s: given more than once", field)
		}
		seen = append(seen, key)
		if err := checkValue(dec, field); err != nil {
			return err
		}
	}
	_, err := dec.Token()
	return decodeError(err)
}

// checkValue reads the value of field.
func checkValue(dec *json.Decoder, field string) error {
	tok, err := dec.Token()
	if err != nil {
		return decodeError(err)
	}
	switch {
	case tok == json.Delim('{') && (objectKeys(field) != nil || field == "portions"):
		return checkObject(dec, field)
	case tok == json.Delim('[') && (field == "network.allow" || strings.HasSuffix(field, ".policy.network.allow")):
		for i := 0; dec.More(); i++ {
			tok, err := dec.Token()
			if err != nil {
				return decodeError(err)
			}
			if _, ok := tok.(string); !ok {
				return invalidf("%s[%d]: must be a string", field, i)
			}
		}
		_, err := dec.Token()
		return decodeError(err)
	case tok == json.Delim('{') || tok == json.Delim('['):
		return skip(dec) // the decoder will say what type it wants
	}
	return nil
}

// skip reads the rest of an object or array whose opening has been read.
func skip(dec *json.Decoder) error {
	for depth := 1; depth > 0; {
		tok, err := dec.Token()
		if err != nil {
			return decodeError(err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// decodeError says in the document's terms what encoding/json found wrong.
func decodeError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &syntax):
		return invalidf("malformed JSON near byte %d: %s", syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: "))
	case errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF:
		return invalidf("malformed JSON: unexpected end of document")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "document"
		}
		return invalidf("%s: must be %s, not %s", field, jsonKind(typ.Type.String()), typ.Value)
	}
	return invalidf("%s", strings.TrimPrefix(err.Error(), "json: "))
}

// jsonKind names, in JSON's terms, what a field of Go type t holds.
func jsonKind(t string) string {
	switch t {
	case "int", "int64":
		return "an integer"
	case "bool":
		return "true or false"
	case "policy.NetworkMode", "policy.Syscalls", "policy.Isolation", "string":
		return "a string"
	case "[]string":
		return "an array of strings"
	}
	return "an object"
}

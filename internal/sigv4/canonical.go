package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
)

const (
	algorithm       = "AWS4-HMAC-SHA256"
	timeFormat      = "20060102T150405Z"
	dateFormat      = "20060102"
	terminator      = "aws4_request"
	unsignedPayload = "UNSIGNED-PAYLOAD"
)

// convention selects how the canonical request is built where real clients
// disagree (see the package comment).
type convention int

const (
	conventionSDK      convention = iota // aws-sdk-go-v2 and the other AWS SDKs
	conventionBotocore                   // botocore: AWS CLI, boto3
)

var conventions = [...]convention{conventionSDK, conventionBotocore}

// queryPair is one decoded name=value pair of a query string.
type queryPair struct{ name, value string }

// parseQuery splits a raw query into decoded pairs, keeping duplicates and
// pairs net/url would drop (such as those holding ';'), so that every pair
// the client sent takes part in the signature.
func parseQuery(raw string) ([]queryPair, error) {
	var pairs []queryPair
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue // "a=1&&b=2": clients never sign the empty element
		}
		name, value, _ := strings.Cut(part, "=")
		n, err := url.QueryUnescape(name)
		if err != nil {
			return nil, fmt.Errorf("query name %q: %w", name, err)
		}
		v, err := url.QueryUnescape(value)
		if err != nil {
			return nil, fmt.Errorf("query value of %q: %w", n, err)
		}
		pairs = append(pairs, queryPair{n, v})
	}
	return pairs, nil
}

// canonicalQuery encodes each name and value, then sorts by encoded name and
// encoded value: the spec sorts after encoding, and so do the SDKs.
func canonicalQuery(pairs []queryPair) string {
	enc := make([]queryPair, len(pairs))
	for i, p := range pairs {
		enc[i] = queryPair{uriEncode(p.name, true), uriEncode(p.value, true)}
	}
	sort.Slice(enc, func(i, j int) bool {
		if enc[i].name != enc[j].name {
			return enc[i].name < enc[j].name
		}
		return enc[i].value < enc[j].value
	})
	var b strings.Builder
	for i, p := range enc {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.name)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

// uriEncode percent-encodes every byte outside RFC 3986's unreserved set,
// with upper-case hex; '/' is kept unless encodeSlash.
func uriEncode(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) || (c == '/' && !encodeSlash) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xf])
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// canonicalPath escapes the path as sent once more, as every AWS client does
// for services other than S3; botocore normalizes the path first.
func canonicalPath(escapedPath string, conv convention) string {
	if escapedPath == "" {
		escapedPath = "/"
	}
	if conv == conventionBotocore {
		escapedPath = removeDotSegments(escapedPath)
	}
	return uriEncode(escapedPath, false)
}

// removeDotSegments mirrors botocore.utils.remove_dot_segments: RFC 3986
// dot-segment removal that also drops empty segments.
func removeDotSegments(p string) string {
	var out []string
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	var b strings.Builder
	if strings.HasPrefix(p, "/") {
		b.WriteByte('/')
	}
	b.WriteString(strings.Join(out, "/"))
	if strings.HasSuffix(p, "/") && len(out) > 0 {
		b.WriteByte('/')
	}
	return b.String()
}

// canonicalHeaderValue trims a value and collapses its inner whitespace the
// way the given client family does.
func canonicalHeaderValue(v string, conv convention) string {
	if conv == conventionBotocore {
		return strings.Join(strings.Fields(v), " ")
	}
	v = strings.TrimSpace(v)
	for strings.Contains(v, "  ") {
		v = strings.ReplaceAll(v, "  ", " ")
	}
	return v
}

// request is what a signature covers, independent of *http.Request.
type request struct {
	method        string
	escapedPath   string
	query         []queryPair
	signedHeaders []string            // lower-case, sorted
	headers       map[string][]string // values of the signed headers, by lower-case name
	payloadHash   string
}

func (q *request) canonical(conv convention) string {
	var b strings.Builder
	b.WriteString(q.method)
	b.WriteByte('\n')
	b.WriteString(canonicalPath(q.escapedPath, conv))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(q.query))
	b.WriteByte('\n')
	for _, name := range q.signedHeaders {
		b.WriteString(name)
		b.WriteByte(':')
		for i, v := range q.headers[name] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(canonicalHeaderValue(v, conv))
		}
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(q.signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(q.payloadHash)
	return b.String()
}

// scope is the credential scope without the access key id.
func scope(date, region, service string) string {
	return date + "/" + region + "/" + service + "/" + terminator
}

// signingKey derives the key for a day's scope: four HMACs, remembered
// (a client signs every request of a day with the same key, so the
// server derives each one once). The memo is keyed by the secret itself
// and holds at most maxSigningKeys; it is emptied when full.
func signingKey(secret, date, region, service string) []byte {
	memo := secret + "\x00" + date + "\x00" + region + "\x00" + service
	signingKeys.Lock()
	k, ok := signingKeys.m[memo]
	signingKeys.Unlock()
	if ok {
		return k
	}
	k = deriveKey(secret, date, region, service)
	signingKeys.Lock()
	if len(signingKeys.m) >= maxSigningKeys {
		clear(signingKeys.m)
	}
	signingKeys.m[memo] = k
	signingKeys.Unlock()
	return k
}

const maxSigningKeys = 4096

var signingKeys = struct {
	sync.Mutex
	m map[string][]byte
}{m: map[string][]byte{}}

func deriveKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, terminator)
}

// signature returns the hex signature of a canonical request.
func signature(key []byte, amzDate, credScope, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	sts := algorithm + "\n" + amzDate + "\n" + credScope + "\n" + hex.EncodeToString(sum[:])
	return hex.EncodeToString(hmacSHA256(key, sts))
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

package sigv4

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Sign signs r in place for ember's own CLI: it sets r.Host from r.URL when
// empty, X-Amz-Date, X-Amz-Content-Sha256 and Authorization. body is the
// exact request body. It signs host, content-type, content-md5 and every
// X-Amz-* header; headers a proxy may rewrite (User-Agent, Accept-Encoding,
// Content-Length) are left out, since the payload hash already covers the
// body.
func Sign(r *http.Request, body []byte, accessKeyID, secret, region, service string, t time.Time) error {
	switch {
	case r == nil || r.URL == nil:
		return errors.New("sigv4: sign: no request URL")
	case r.URL.Opaque != "":
		return errors.New("sigv4: sign: opaque URLs are not supported")
	case accessKeyID == "" || strings.Contains(accessKeyID, "/"):
		return fmt.Errorf("sigv4: sign: invalid access key id %q", accessKeyID)
	case region == "" || strings.Contains(region, "/") || service == "" || strings.Contains(service, "/"):
		return fmt.Errorf("sigv4: sign: invalid region %q or service %q", region, service)
	}
	if r.Host == "" {
		r.Host = r.URL.Host
	}
	if r.Host == "" {
		return errors.New("sigv4: sign: request has no host")
	}
	query, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return fmt.Errorf("sigv4: sign: %w", err)
	}
	if r.Header == nil {
		r.Header = http.Header{}
	}
	t = t.UTC()
	amzDate := t.Format(timeFormat)
	date := t.Format(dateFormat)
	payload := hashHex(body)
	r.Header.Del("Authorization")
	r.Header.Set("X-Amz-Date", amzDate)
	r.Header.Set("X-Amz-Content-Sha256", payload)

	headers := map[string][]string{"host": {r.Host}}
	names := []string{"host"}
	for k := range r.Header {
		name := strings.ToLower(k)
		if _, seen := headers[name]; seen {
			continue
		}
		if strings.HasPrefix(name, "x-amz-") || name == "content-type" || name == "content-md5" {
			headers[name] = headerValues(r.Header, name)
			names = append(names, name)
		}
	}
	sort.Strings(names)

	q := request{
		method:        method(r),
		escapedPath:   r.URL.EscapedPath(),
		query:         query,
		signedHeaders: names,
		headers:       headers,
		payloadHash:   payload,
	}
	credScope := scope(date, region, service)
	sig := signature(signingKey(secret, date, region, service), amzDate, credScope, q.canonical(conventionSDK))
	r.Header.Set("Authorization", algorithm+" Credential="+accessKeyID+"/"+credScope+
		", SignedHeaders="+strings.Join(names, ";")+", Signature="+sig)
	return nil
}

// method returns r's method; net/http treats "" as GET.
func method(r *http.Request) string {
	if r.Method == "" {
		return http.MethodGet
	}
	return r.Method
}

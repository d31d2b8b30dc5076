package egress

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// harness is a Proxy serving a loopback listener, recording its dials and
// decisions.
type harness struct {
	p     *Proxy
	addr  string
	url   *url.URL
	serve chan error

	mu        sync.Mutex
	dials     []netip.AddrPort
	decisions []Decision
}

func startProxy(t testing.TB, opts Options) *harness {
	t.Helper()
	h := &harness{serve: make(chan error, 1)}
	opts.Log = func(d Decision) {
		h.mu.Lock()
		h.decisions = append(h.decisions, d)
		h.mu.Unlock()
	}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	p.onDial = func(ap netip.AddrPort) {
		h.mu.Lock()
		h.dials = append(h.dials, ap)
		h.mu.Unlock()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.p, h.addr = p, l.Addr().String()
	h.url = &url.URL{Scheme: "http", Host: h.addr}
	go func() { h.serve <- p.Serve(l) }()
	t.Cleanup(func() {
		p.Close()
		select {
		case err := <-h.serve:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return h
}

func (h *harness) dialCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.dials)
}

func (h *harness) logged() []Decision {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Decision(nil), h.decisions...)
}

// waitLogged waits for n decisions: an allowed one is logged when its
// request ends, which can be just after the client has its answer.
func (h *harness) waitLogged(t testing.TB, n int) []Decision {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ds := h.logged()
		if len(ds) >= n || time.Now().After(deadline) {
			if len(ds) != n {
				t.Fatalf("%d decisions logged, want %d: %+v", len(ds), n, ds)
			}
			return ds
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) client() *http.Client {
	return &http.Client{
		Transport: &http.Transport{Proxy: http.ProxyURL(h.url)},
		Timeout:   10 * time.Second,
	}
}

// raw sends req to the proxy on a new connection and reads one response.
func (h *harness) raw(t testing.TB, req string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	// A write error is not fatal: the proxy may answer (431) and hang up
	// before it has read everything.
	io.WriteString(c, req)
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%q: %v", req, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// tunnel opens a CONNECT tunnel through the proxy.
func (h *harness) tunnel(t testing.TB, authority string) (net.Conn, int) {
	t.Helper()
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", authority, authority)
	// Read the answer byte by byte, so nothing after it is buffered away.
	var head []byte
	b := make([]byte, 1)
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		if _, err := c.Read(b); err != nil {
			t.Fatalf("CONNECT %s: %v after %q", authority, err, head)
		}
		head = append(head, b[0])
	}
	res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Time{})
	return c, res.StatusCode
}

// echoServer accepts on loopback and echoes every connection.
func echoServer(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

func hello(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }

func get(t testing.TB, c *http.Client, u string) (int, string) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", u, err)
	}
	return res.StatusCode, string(body)
}

func portOf(t testing.TB, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// The allowed path: a loopback server, opened explicitly by a prefix rule.
func TestForwardAllowedByPrefix(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(hello))
	defer srv.Close()
	port := portOf(t, srv.Listener.Addr().String())
	for _, rule := range []string{"127.0.0.1:" + port, "127.0.0.0/8:*"} {
		t.Run(rule, func(t *testing.T) {
			h := startProxy(t, Options{Rules: rules(t, rule)})
			c := h.client()
			defer c.CloseIdleConnections()
			for range 3 { // keep-alive: each request is checked
				if code, body := get(t, c, srv.URL+"/x"); code != 200 || body != "hello" {
					t.Fatalf("got %d %q", code, body)
				}
			}
			ds := h.waitLogged(t, 3)
			d := ds[0]
			if !d.Allowed || d.Method != "GET" || d.Host != "127.0.0.1" || fmt.Sprint(d.Port) != port ||
				d.Addr != netip.MustParseAddr("127.0.0.1") || d.Status != 200 || d.Bytes != 5 ||
				!strings.Contains(d.Reason, "allowed by 127.0.0.") || d.Time.IsZero() {
				t.Errorf("decision %+v", d)
			}
			if s := h.p.Stats(); s.Allowed != 3 || s.Denied != 0 || s.Bytes == 0 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

// DNS rebinding: a listed name that resolves to loopback is refused, and
// nothing is dialed.
func TestRebindingDenied(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(hello))
	defer srv.Close()
	port := portOf(t, srv.Listener.Addr().String())
	res := &fakeResolver{m: map[string][]string{
		"api.example.com":    {"127.0.0.1"},
		"mapped.example.com": {"::ffff:127.0.0.1"},
	}}
	h := startProxy(t, Options{Resolver: res, Rules: rules(t, "*.example.com:"+port)})
	c := h.client()
	defer c.CloseIdleConnections()

	code, body := get(t, c, "http://api.example.com:"+port+"/")
	want := "ember egress: denied: api.example.com:" + port + " resolves to 127.0.0.1, which is loopback\n"
	if code != 403 || body != want {
		t.Errorf("got %d %q, want 403 %q", code, body, want)
	}
	if code, _ := get(t, c, "http://mapped.example.com:"+port+"/"); code != 403 {
		t.Errorf("v4-mapped loopback: got %d, want 403", code)
	}
	if _, st := h.tunnel(t, "api.example.com:"+port); st != 403 {
		t.Errorf("CONNECT: got %d, want 403", st)
	}
	if n := h.dialCount(); n != 0 {
		t.Errorf("%d dials, want none", n)
	}
	for _, d := range h.waitLogged(t, 3) {
		if d.Allowed || d.Status != 403 || d.Addr != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("decision %+v", d)
		}
	}

	// The same name is fine once a prefix rule opens loopback explicitly.
	h2 := startProxy(t, Options{Resolver: res, Rules: rules(t, "*.example.com:"+port, "127.0.0.0/8:"+port)})
	c2 := h2.client()
	defer c2.CloseIdleConnections()
	if code, body := get(t, c2, "http://api.example.com:"+port+"/"); code != 200 || body != "hello" {
		t.Errorf("with 127.0.0.0/8 listed: got %d %q", code, body)
	}
}

// The metadata service in every encoding: refused before any dial, even
// with the whole internet on the allow-list.
func TestMetadataEveryEncoding(t *testing.T) {
	res := &fakeResolver{m: map[string][]string{
		"metadata":             {"169.254.169.254"},
		"metadata.example.com": {"169.254.169.254"},
	}}
	h := startProxy(t, Options{Resolver: res, Rules: rules(t,
		"0.0.0.0/0:*", "[::/0]:*", "metadata:*", "*.example.com:*")})
	hosts := []string{
		"169.254.169.254", "2852039166", "0xa9fea9fe", "0XA9FEA9FE", "0251.0376.0251.0376",
		"0xa9.0xfe.0xa9.0xfe", "169.254.43518", "169.16689662", "0251.254.169.254",
		"169.254.169.254.", "[::ffff:169.254.169.254]", "[::ffff:a9fe:a9fe]",
		"[::169.254.169.254]", "[64:ff9b::a9fe:a9fe]", "[2002:a9fe:a9fe::]",
		"[fe80::a9fe:a9fe%25eth0]", "[169.254.169.254]", "%31%36%39.254.169.254",
		"metadata", "metadata.", "metadata.example.com", "METADATA",
	}
	for _, host := range hosts {
		t.Run(host, func(t *testing.T) {
			code, body := h.raw(t, "GET http://"+host+"/latest/meta-data/ HTTP/1.1\r\nHost: "+host+"\r\n\r\n")
			if code != 403 && code != 400 {
				t.Errorf("GET: %d %q", code, body)
			}
			authority := host + ":80"
			_, st := h.tunnel(t, authority)
			if st != 403 && st != 400 {
				t.Errorf("CONNECT: %d", st)
			}
		})
	}
	if code, body := h.raw(t, "GET http://169.254.169.254/ HTTP/1.1\r\nHost: x\r\n\r\n"); code != 403 ||
		body != "ember egress: denied: 169.254.169.254:80 is link-local\n" {
		t.Errorf("got %d %q", code, body)
	}
	if n := h.dialCount(); n != 0 {
		t.Errorf("%d dials, want none", n)
	}
	// Some of these net/http refuses to parse before any decision is made.
	if s := h.p.Stats(); s.Allowed != 0 || s.Denied < uint64(len(hosts)) {
		t.Errorf("stats %+v", s)
	}
}

// A redirect comes back to the client; following it is a new request,
// checked like any other.
func TestRedirectNotFollowed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	}))
	defer srv.Close()
	port := portOf(t, srv.Listener.Addr().String())
	h := startProxy(t, Options{Rules: rules(t, "127.0.0.1:"+port, "0.0.0.0/0:80")})

	c := h.client()
	defer c.CloseIdleConnections()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := c.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 302 || res.Header.Get("Location") != "http://169.254.169.254/latest/meta-data/" {
		t.Errorf("got %d Location %q", res.StatusCode, res.Header.Get("Location"))
	}

	follow := h.client()
	defer follow.CloseIdleConnections()
	code, body := get(t, follow, srv.URL+"/")
	if code != 403 || !strings.Contains(body, "169.254.169.254:80 is link-local") {
		t.Errorf("following: got %d %q", code, body)
	}
	h.mu.Lock()
	for _, ap := range h.dials {
		if ap.Addr() != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("dialed %s", ap)
		}
	}
	h.mu.Unlock()
}

// Hop-by-hop headers and proxy credentials stop at the proxy; the rest of
// the request and the response pass as they are.
func TestForwardHeaders(t *testing.T) {
	var got http.Header
	var gotHost, gotURI string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, gotHost, gotURI = r.Header.Clone(), r.Host, r.RequestURI
		w.Header()["Content-Type"] = nil // nothing to sniff: must stay absent
		w.Header()["Date"] = nil
		w.Header().Set("X-Upstream", "yes")
		w.WriteHeader(299)
		io.WriteString(w, "<html>")
	}))
	defer srv.Close()
	port := portOf(t, srv.Listener.Addr().String())
	res := &fakeResolver{m: map[string][]string{"svc.internal": {"127.0.0.1"}}}
	h := startProxy(t, Options{Resolver: res, Rules: rules(t, "127.0.0.1:"+port)})

	req := "POST http://svc.internal:" + port + "/p?q=1;x HTTP/1.1\r\nHost: other\r\n" +
		"Proxy-Authorization: Basic c2VjcmV0\r\nProxy-Connection: keep-alive\r\n" +
		"Connection: X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 300\r\nUpgrade: websocket\r\n" +
		"X-Forwarded-For: 1.2.3.4\r\nX-Keep: 2\r\nContent-Length: 3\r\n\r\nabc"
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, req)
	r, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	if r.StatusCode != 299 || string(body) != "<html>" || r.Header.Get("X-Upstream") != "yes" {
		t.Errorf("response %d %q %v", r.StatusCode, body, r.Header)
	}
	for _, k := range []string{"Content-Type", "Date"} {
		if v, ok := r.Header[k]; ok {
			t.Errorf("response gained %s: %q", k, v)
		}
	}
	if gotHost != "svc.internal:"+port || gotURI != "/p?q=1;x" {
		t.Errorf("upstream saw Host %q URI %q", gotHost, gotURI)
	}
	for _, k := range []string{"Proxy-Authorization", "Proxy-Connection", "X-Hop", "Keep-Alive", "Upgrade"} {
		if v, ok := got[k]; ok {
			t.Errorf("upstream saw %s: %q", k, v)
		}
	}
	if got.Get("X-Keep") != "2" || got.Get("X-Forwarded-For") != "1.2.3.4" || got.Get("User-Agent") != "" {
		t.Errorf("upstream headers %v", got)
	}
	if d := h.waitLogged(t, 1)[0]; d.Bytes != 3+6 || d.Status != 299 || d.Host != "svc.internal" {
		t.Errorf("decision %+v", d)
	}
}

func TestPortNotListed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(hello))
	defer srv.Close()
	port := portOf(t, srv.Listener.Addr().String())
	other := "1"
	if port == other {
		other = "2"
	}
	res := &fakeResolver{m: map[string][]string{"api.example.com": {"127.0.0.1"}}}
	h := startProxy(t, Options{Resolver: res, Rules: rules(t, "127.0.0.1:"+other, "api.example.com:"+other)})
	c := h.client()
	defer c.CloseIdleConnections()
	if code, body := get(t, c, srv.URL+"/"); code != 403 || !strings.Contains(body, "port "+port+" is not on the allow-list") {
		t.Errorf("got %d %q", code, body)
	}
	if _, st := h.tunnel(t, "api.example.com:"+port); st != 403 {
		t.Errorf("CONNECT: got %d", st)
	}
	if h.dialCount() != 0 {
		t.Error("dialed")
	}
}

func TestMaxConns(t *testing.T) {
	echo := echoServer(t)
	h := startProxy(t, Options{MaxConns: 2, Rules: rules(t, "127.0.0.1:"+portOf(t, echo))})
	a, st1 := h.tunnel(t, echo)
	_, st2 := h.tunnel(t, echo)
	if st1 != 200 || st2 != 200 {
		t.Fatalf("tunnels: %d %d", st1, st2)
	}
	if _, st := h.tunnel(t, echo); st != 503 {
		t.Errorf("third tunnel: %d, want 503", st)
	}
	if code, body := h.raw(t, "GET http://"+echo+"/ HTTP/1.1\r\nHost: x\r\n\r\n"); code != 503 ||
		!strings.Contains(body, "too many connections (limit 2)") {
		t.Errorf("request over the limit: %d %q", code, body)
	}
	a.Close()
	waitFor(t, func() bool { return h.p.Stats().Active == 1 })
	if _, st := h.tunnel(t, echo); st != 200 {
		t.Errorf("after one closed: %d, want 200", st)
	}
}

func TestMaxBytes(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 1<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(big) }))
	defer srv.Close()
	port := portOf(t, srv.Listener.Addr().String())
	const limit = 100 << 10
	h := startProxy(t, Options{MaxBytes: limit, Rules: rules(t, "127.0.0.1:"+port)})
	c := h.client()
	defer c.CloseIdleConnections()

	res, err := c.Get(srv.URL)
	if err == nil {
		n, rerr := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if rerr == nil || n >= int64(len(big)) {
			t.Errorf("read %d bytes, err %v: want the response cut", n, rerr)
		}
	}
	if s := h.p.Stats(); s.Bytes > limit || s.Bytes < limit-1024 {
		t.Errorf("stats %+v, want bytes at the limit %d", s, limit)
	}
	if d := h.waitLogged(t, 1)[0]; !d.Allowed || d.Err != ErrByteLimit.Error() {
		t.Errorf("decision %+v, want an error", d)
	}
	// The budget is spent: nothing more goes through.
	if _, err := c.Get(srv.URL); err == nil {
		t.Error("request after the byte limit succeeded")
	}
	// A new budget (the next invocation) admits requests again.
	h.p.ResetBudget()
	res, err = h.client().Get(srv.URL)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("request after ResetBudget: %v %v", res, err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if s := h.p.Stats(); s.Bytes > limit {
		t.Errorf("stats after reset %+v, over the limit", s)
	}
}

func TestBadRequests(t *testing.T) {
	h := startProxy(t, Options{Rules: rules(t, "example.com")})
	tests := []struct {
		req  string
		code int
	}{
		{"FOO http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n", 400},
		{"TRACE http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n", 400},
		{"GET /relative HTTP/1.1\r\nHost: example.com\r\n\r\n", 400},
		{"GET https://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n", 400},
		{"GET ftp://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n", 400},
		{"GET http:/// HTTP/1.1\r\nHost: example.com\r\n\r\n", 400},
		{"GET http://user:pw@example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n", 400},
		{"OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n", 400},
		{"CONNECT example.com HTTP/1.1\r\nHost: example.com\r\n\r\n", 400},
		{"CONNECT example.com:0 HTTP/1.1\r\nHost: example.com\r\n\r\n", 400},
		{"CONNECT /path HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 400},
		{"CONNECT ex@mple.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n", 400},
		{"HELLO\r\n\r\n", 400},
		{"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nX: " + strings.Repeat("a", 200<<10) + "\r\n\r\n", 431},
	}
	for _, tt := range tests {
		name := tt.req
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			if code, body := h.raw(t, tt.req); code != tt.code {
				t.Errorf("got %d %q, want %d", code, body, tt.code)
			}
		})
	}
	if h.dialCount() != 0 {
		t.Error("dialed")
	}
}

func TestUpstreamDown(t *testing.T) {
	l := mustListen(t)
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	h := startProxy(t, Options{Rules: rules(t, "127.0.0.1:"+portOf(t, addr))})
	if code, body := h.raw(t, "GET http://"+addr+"/ HTTP/1.1\r\nHost: x\r\n\r\n"); code != 502 ||
		!strings.HasPrefix(body, "ember egress: upstream: ") {
		t.Errorf("GET: %d %q", code, body)
	}
	if _, st := h.tunnel(t, addr); st != 502 {
		t.Errorf("CONNECT: %d", st)
	}
	for _, d := range h.waitLogged(t, 2) {
		if !d.Allowed || d.Status != 502 || d.Err == "" {
			t.Errorf("decision %+v", d)
		}
	}
}

// Every decision reaches Log, and the counters agree.
func TestEveryDecisionLogged(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(hello))
	defer srv.Close()
	echo := echoServer(t)
	h := startProxy(t, Options{Rules: rules(t, "127.0.0.1:"+portOf(t, srv.Listener.Addr().String()),
		"127.0.0.1:"+portOf(t, echo))})
	c := h.client()
	defer c.CloseIdleConnections()
	get(t, c, srv.URL)                                             // allowed
	get(t, c, "http://10.0.0.1/")                                  // denied
	tc, _ := h.tunnel(t, echo)                                     // allowed
	h.tunnel(t, "127.0.0.1:1")                                     // denied
	h.raw(t, "BREW http://127.0.0.1/ HTTP/1.1\r\nHost: x\r\n\r\n") // bad
	tc.Close()
	ds := h.waitLogged(t, 5)
	var allowed, denied int
	for _, d := range ds {
		if d.Allowed {
			allowed++
		} else {
			denied++
		}
		if d.Reason == "" || d.Status == 0 || d.Method == "" || d.Time.IsZero() {
			t.Errorf("incomplete decision %+v", d)
		}
	}
	if s := h.p.Stats(); allowed != 2 || denied != 3 || s.Allowed != 2 || s.Denied != 3 {
		t.Errorf("allowed %d denied %d, stats %+v", allowed, denied, s)
	}
}

// Close returns only when every goroutine the proxy started has ended.
func TestNoGoroutineLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		srv := httptest.NewServer(http.HandlerFunc(hello))
		defer srv.Close()
		tlsSrv := newTLSServer(hello)
		defer tlsSrv.Close()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p, err := New(Options{Rules: rules(t, "127.0.0.0/8:*")})
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- p.Serve(l) }()
		proxyURL := &url.URL{Scheme: "http", Host: l.Addr().String()}

		c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}
		defer c.CloseIdleConnections()
		tc := tlsSrv.Client()
		tc.Transport.(*http.Transport).Proxy = http.ProxyURL(proxyURL)
		defer tc.CloseIdleConnections()
		for range 5 {
			get(t, c, srv.URL)
			get(t, tc, tlsSrv.URL)
		}
		// Leave a tunnel and a keep-alive connection open, and a request
		// stuck mid-body, for Close to cut.
		raw, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		fmt.Fprintf(raw, "POST %s/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc", srv.URL)
		tun, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer tun.Close()
		fmt.Fprintf(tun, "CONNECT %s HTTP/1.1\r\nHost: x\r\n\r\n", tlsSrv.Listener.Addr())
		// tc's idle keep-alive tunnel, the stuck POST, the new tunnel.
		waitFor(t, func() bool { return p.Stats().Active == 3 })

		p.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustListen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// newTLSServer is httptest.NewTLSServer without log noise from clients
// that hang up before the handshake.
func newTLSServer(h http.HandlerFunc) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	return srv
}

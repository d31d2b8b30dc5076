package egress

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkProxyGET and BenchmarkDirectGET fetch the same small response
// from a loopback server, through the proxy and directly, both with
// keep-alive; the difference is the proxy's cost per request.
//
//	go test -run '^$' -bench GET -benchmem ./internal/egress/
func BenchmarkProxyGET(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(hello))
	defer srv.Close()
	h := startProxy(b, Options{Rules: rules(b, "127.0.0.1:"+portOf(b, srv.Listener.Addr().String()))})
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(h.url)}}
	defer c.CloseIdleConnections()
	benchGET(b, c, srv.URL)
	// Upstream connections are pooled: about zero dials per request.
	b.ReportMetric(float64(h.dialCount())/float64(b.N), "dials/op")
}

func BenchmarkDirectGET(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(hello))
	defer srv.Close()
	c := &http.Client{Transport: &http.Transport{Proxy: nil}}
	defer c.CloseIdleConnections()
	benchGET(b, c, srv.URL)
}

func benchGET(b *testing.B, c *http.Client, url string) {
	b.ReportAllocs()
	for b.Loop() {
		res, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 || string(body) != "hello" {
			b.Fatalf("%d %q %v", res.StatusCode, body, err)
		}
	}
}

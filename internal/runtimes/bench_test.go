package runtimes

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
)

// BenchmarkInvoke measures one warm invocation of a trivial echo handler
// through the fake Runtime API: the client's per-invocation work plus two
// loopback HTTP exchanges. The "go" case is a bare Go client doing the same
// exchanges, the floor the fake API and loopback impose. Run with
//
//	go test -run '^$' -bench Invoke -benchtime 2000x ./internal/runtimes/
func BenchmarkInvoke(b *testing.B) {
	b.Run("go", func(b *testing.B) {
		p := startGoClient(b)
		for b.Loop() {
			if r := p.invoke(b, `{"key":"value"}`); r.kind != "response" {
				b.Fatalf("%s %s", r.kind, r.body)
			}
		}
	})
	for _, bc := range []struct{ name, runtime, root, handler string }{
		{"python", pyRuntime, "testdata/python", "app.echo"},
		{"node", nodeRuntime, "testdata/node/cjs", "index.echo"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := start(b, bc.runtime, installed(b), bc.root, bc.handler)
			wantResponse(b, p.invoke(b, `{"warm":"up"}`), `{"warm":"up"}`)
			for b.Loop() {
				if r := p.invoke(b, `{"key":"value"}`); r.kind != "response" {
					b.Fatalf("%s %s", r.kind, r.body)
				}
			}
		})
	}
}

// startGoClient runs a minimal echo runtime client in a goroutine.
func startGoClient(b *testing.B) *proc {
	api := newFakeAPI(b)
	p := &proc{api: api, exited: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(p.exited)
		base := "http://" + api.addr() + "/2018-06-01/runtime/invocation/"
		do := func(method, url string, body []byte) (*http.Response, []byte, error) {
			req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
			if err != nil {
				return nil, nil, err
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				return nil, nil, err
			}
			defer res.Body.Close()
			data, err := io.ReadAll(res.Body)
			return res, data, err
		}
		for {
			res, event, err := do("GET", base+"next", nil)
			if err != nil {
				return
			}
			id := res.Header.Get("Lambda-Runtime-Aws-Request-Id")
			if _, _, err := do("POST", base+id+"/response", event); err != nil {
				return
			}
		}
	}()
	b.Cleanup(func() {
		cancel()
		<-p.exited
	})
	return p
}

package runtimes

import "testing"

// BenchmarkInvoke measures one warm invocation of a trivial echo handler
// through the fake Runtime API: the client's per-invocation overhead plus
// two loopback HTTP exchanges. Run with
//
//	go test -run '^$' -bench Invoke -benchtime 2000x ./internal/runtimes/
func BenchmarkInvoke(b *testing.B) {
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

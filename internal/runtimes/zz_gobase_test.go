package runtimes

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

func BenchmarkInvokeGoBaseline(b *testing.B) {
	api := newFakeAPI(b)
	p := &proc{api: api, exited: make(chan struct{})}
	go func() {
		c := &http.Client{}
		base := "http://" + api.addr() + "/2018-06-01/runtime/invocation/"
		for {
			res, err := c.Get(base + "next")
			if err != nil {
				return
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			id := res.Header.Get("Lambda-Runtime-Aws-Request-Id")
			r, err := c.Post(base+id+"/response", "application/json", bytes.NewReader(body))
			if err != nil {
				return
			}
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
		}
	}()
	for b.Loop() {
		p.invoke(b, `{"key":"value"}`)
	}
}

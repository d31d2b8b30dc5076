package egress

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// HTTPS: a CONNECT tunnel to a TLS server, used by an ordinary client.
func TestConnectTLS(t *testing.T) {
	srv := newTLSServer(hello)
	defer srv.Close()
	port := portOf(t, srv.Listener.Addr().String())
	h := startProxy(t, Options{Rules: rules(t, "127.0.0.1:"+port)})
	c := srv.Client()
	c.Transport.(*http.Transport).Proxy = http.ProxyURL(h.url)
	defer c.CloseIdleConnections()
	if code, body := get(t, c, srv.URL+"/"); code != 200 || body != "hello" {
		t.Fatalf("got %d %q", code, body)
	}
	c.CloseIdleConnections() // ends the tunnel, which logs it
	d := h.waitLogged(t, 1)[0]
	if !d.Allowed || d.Method != "CONNECT" || d.Status != 200 || d.Bytes < 500 || d.Err != "" ||
		d.Addr != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("decision %+v", d)
	}
}

func TestMaxBytesTunnel(t *testing.T) {
	echo := echoServer(t)
	const limit = 64 << 10
	h := startProxy(t, Options{MaxBytes: limit, Rules: rules(t, "127.0.0.1:"+portOf(t, echo))})
	c, st := h.tunnel(t, echo)
	if st != 200 {
		t.Fatal(st)
	}
	go io.Copy(io.Discard, c)
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	// Kernel socket buffers on loopback can hold megabytes, so write until
	// the proxy's cut shows (a reset or broken pipe), up to 256 MB.
	chunk := make([]byte, 64<<10)
	var err error
	for i := 0; i < 4096 && err == nil; i++ {
		_, err = c.Write(chunk)
	}
	if err == nil {
		t.Fatal("wrote 256 MB through a 64 KB budget")
	}
	// Both directions were in flight when the budget ran out: each may
	// finish its read or write.
	d := h.waitLogged(t, 1)[0]
	if d.Err != ErrByteLimit.Error() || d.Bytes > limit+2*copyBuf {
		t.Errorf("decision %+v", d)
	}
	if s := h.p.Stats(); s.Bytes > limit+2*copyBuf {
		t.Errorf("stats %+v", s)
	}
}

func TestCloseCutsTunnel(t *testing.T) {
	echo := echoServer(t)
	h := startProxy(t, Options{Rules: rules(t, "127.0.0.1:"+portOf(t, echo))})
	c, st := h.tunnel(t, echo)
	if st != 200 {
		t.Fatal(st)
	}
	io.WriteString(c, "ping")
	buf := make([]byte, 4)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q %v", buf, err)
	}

	start := time.Now()
	h.p.Close()
	h.p.Close() // idempotent
	if n, err := c.Read(buf); err == nil {
		t.Fatalf("read %d bytes after Close", n)
	}
	if time.Since(start) > 2*time.Second {
		t.Error("Close took too long to cut the tunnel")
	}
	select {
	case err := <-h.serve:
		h.serve <- err // for the cleanup's check
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	d := h.waitLogged(t, 1)[0]
	if d.Err != ErrClosed.Error() || d.Bytes != 8 {
		t.Errorf("decision %+v", d)
	}
	if err := h.p.Serve(mustListen(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("Serve after Close: %v", err)
	}
}

func TestIdleTunnel(t *testing.T) {
	echo := echoServer(t)
	const idle = 300 * time.Millisecond
	h := startProxy(t, Options{IdleTimeout: idle, Rules: rules(t, "127.0.0.1:"+portOf(t, echo))})

	// Busy: traffic every idle/3 keeps it open past the timeout.
	c, _ := h.tunnel(t, echo)
	buf := make([]byte, 1)
	for range 9 {
		time.Sleep(idle / 3)
		c.Write([]byte("x"))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(buf); err != nil {
			t.Fatalf("busy tunnel cut: %v", err)
		}
	}
	// Quiet: cut.
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(buf); err == nil {
		t.Fatal("read from an idle tunnel")
	}
	if el := time.Since(start); el < idle/2 || el > 3*time.Second {
		t.Errorf("idle tunnel cut after %v, want about %v", el, idle)
	}
	if d := h.waitLogged(t, 1)[0]; !strings.Contains(d.Err, "idle") {
		t.Errorf("decision %+v", d)
	}
}

// Half-close passes through: the client's EOF reaches the upstream, whose
// remaining answer still comes back.
func TestTunnelHalfClose(t *testing.T) {
	echo := echoServer(t)
	h := startProxy(t, Options{Rules: rules(t, "127.0.0.1:"+portOf(t, echo))})
	c, _ := h.tunnel(t, echo)
	io.WriteString(c, "last words")
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "last words" {
		t.Errorf("got %q %v", got, err)
	}
	if d := h.waitLogged(t, 1)[0]; d.Err != "" || d.Bytes != 20 {
		t.Errorf("decision %+v", d)
	}
}

// Bytes the client sends right behind its CONNECT, before the answer, are
// not lost (the HTTP server may already have buffered them).
func TestTunnelEarlyData(t *testing.T) {
	echo := echoServer(t)
	h := startProxy(t, Options{Rules: rules(t, "127.0.0.1:"+portOf(t, echo))})
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "CONNECT "+echo+" HTTP/1.1\r\nHost: x\r\n\r\nearly")
	want := connectOK + "early"
	got := make([]byte, len(want))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != want {
		t.Errorf("got %q %v, want %q", got, err, want)
	}
}

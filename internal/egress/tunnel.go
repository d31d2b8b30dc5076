package egress

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// copyBuf is the size of the copy buffers: one per tunnel direction or
// forwarded body.
const copyBuf = 32 << 10

// tunnel answers the CONNECT and copies between client and up until both
// directions have ended, either side fails, or nothing moved either way
// for the idle timeout. early is what the client sent before the answer.
// It returns the payload bytes carried and what cut the tunnel short.
func (p *Proxy) tunnel(client, up net.Conn, early []byte) (int64, string) {
	t := &tunnel{client: client, up: up, idle: p.idleTimeout}
	defer client.Close()
	defer up.Close()
	t.touch()
	client.SetDeadline(time.Now().Add(t.idle))
	if _, err := io.WriteString(client, connectOK); err != nil {
		return 0, err.Error()
	}
	if len(early) > 0 {
		up.SetWriteDeadline(time.Now().Add(t.idle))
		if _, err := up.Write(early); err != nil {
			return 0, err.Error()
		}
		t.n.Add(int64(len(early)))
	}

	// This handler holds a wg count, so adding here cannot race Close's Wait.
	p.wg.Add(1)
	done := make(chan struct{})
	go func() {
		defer p.wg.Done()
		defer close(done)
		buf := p.bufs.Get()
		defer p.bufs.Put(buf)
		t.pipe(client, up, buf)
	}()
	buf := p.bufs.Get()
	defer p.bufs.Put(buf)
	t.pipe(up, client, buf)
	<-done
	t.mu.Lock()
	ended, err := t.ended, t.err
	t.mu.Unlock()
	switch {
	case !ended:
		return t.n.Load(), ""
	case p.cutReason() != "":
		return t.n.Load(), p.cutReason()
	case err != nil:
		return t.n.Load(), err.Error()
	default:
		return t.n.Load(), ""
	}
}

type tunnel struct {
	client, up net.Conn
	idle       time.Duration
	last       atomic.Int64 // unix nanoseconds of the last byte either way
	n          atomic.Int64

	mu    sync.Mutex
	ended bool  // fail was called
	err   error // what fail was first called with; nil for a peer's reset
}

func (t *tunnel) touch() { t.last.Store(time.Now().UnixNano()) }

func (t *tunnel) idleFor() time.Duration {
	return time.Duration(time.Now().UnixNano() - t.last.Load())
}

// pipe copies src to dst. On src's EOF it half-closes dst, leaving the
// other direction running; on any failure it closes both.
func (t *tunnel) pipe(dst, src net.Conn, buf []byte) {
	for {
		src.SetReadDeadline(time.Now().Add(t.idle))
		n, err := src.Read(buf)
		if n > 0 {
			t.touch()
			dst.SetWriteDeadline(time.Now().Add(t.idle))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				if errors.Is(werr, syscall.ECONNRESET) || errors.Is(werr, syscall.EPIPE) {
					werr = nil // the peer hung up
				}
				t.fail(werr)
				return
			}
			t.n.Add(int64(n))
		}
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded) && t.idleFor() < t.idle:
			// Quiet this way, busy the other: not idle.
		case errors.Is(err, io.EOF):
			if cw, ok := dst.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			return
		case errors.Is(err, os.ErrDeadlineExceeded):
			t.fail(fmt.Errorf("idle for %v", t.idle))
			return
		case errors.Is(err, syscall.ECONNRESET):
			t.fail(nil) // the peer's way of ending, not a failure
			return
		default:
			t.fail(err)
			return
		}
	}
}

// fail records the first failure, if err is one, and closes both sides,
// which ends the other direction's copy too.
func (t *tunnel) fail(err error) {
	t.mu.Lock()
	if !t.ended {
		t.ended, t.err = true, err
	}
	t.mu.Unlock()
	t.client.Close()
	t.up.Close()
}

package egress

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
)

// forward carries one absolute-form request ("GET http://host/path") and
// passes the response back as it came: a redirect goes to the client,
// which must ask again (and be checked again) to follow it.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, d *Decision) {
	authority, ok := absoluteHTTP(r.RequestURI)
	switch {
	case !ok:
		p.refuse(w, d, http.StatusBadRequest,
			"the target must be an absolute http:// URL (use CONNECT for https)")
		return
	case strings.Contains(authority, "@"):
		p.refuse(w, d, http.StatusBadRequest, "credentials in the URL are not supported")
		return
	}
	v := p.decide(r.Context(), authority, 80)
	if !p.admit(w, d, v) {
		return
	}
	hostHeader := v.key
	if v.port == 80 {
		hostHeader = strings.TrimSuffix(v.key, ":80")
	}

	var (
		mu     sync.Mutex
		dialed netip.Addr
	)
	ctx := context.WithValue(r.Context(), targetKey{}, &v.target)
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if ta, ok := info.Conn.RemoteAddr().(*net.TCPAddr); ok {
				mu.Lock()
				dialed = ta.AddrPort().Addr().Unmap()
				mu.Unlock()
			}
		},
	})
	out := r.WithContext(ctx)
	// Without RemoteAddr the ReverseProxy adds no X-Forwarded-For: the
	// client's headers pass as they are.
	out.RemoteAddr = ""
	out.Header = r.Header.Clone()
	// Protocol upgrades are not forwarded: a tunnel is what CONNECT is for.
	out.Header.Del("Upgrade")
	var in *countReader
	if r.Body != nil && r.Body != http.NoBody {
		in = &countReader{ReadCloser: r.Body}
		out.Body = in
	}
	cw := &countWriter{ResponseWriter: w}

	defer func() {
		rec := recover() // http.ErrAbortHandler: the response was cut short
		if rec != nil && d.Err == "" {
			d.Err = "response cut short"
		}
		if why := p.cutReason(); why != "" && d.Err != "" {
			d.Err = why
		}
		mu.Lock()
		d.Addr = dialed
		mu.Unlock()
		d.Status = cw.status
		d.Bytes = cw.n
		if in != nil {
			d.Bytes += in.n.Load()
		}
		p.record(d)
		if rec != nil {
			panic(rec)
		}
	}()
	rp := &httputil.ReverseProxy{
		Director: func(o *http.Request) {
			o.URL.Scheme, o.URL.Host, o.URL.User = "http", v.key, nil
			o.Host = hostHeader
			o.Header.Del("Proxy-Authorization")
		},
		Transport: p.transport,
		ModifyResponse: func(res *http.Response) error {
			// No sniffed Content-Type and no Date the upstream did not send.
			h := cw.Header()
			for _, k := range [...]string{"Content-Type", "Date"} {
				if _, ok := res.Header[k]; !ok {
					h[k] = nil
				}
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			status := http.StatusBadGateway
			if errors.Is(err, errDialRefused) {
				status = http.StatusForbidden
			}
			d.Err = "upstream: " + err.Error()
			h := w.Header()
			h.Set("Content-Type", "text/plain; charset=utf-8")
			h.Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(status)
			io.WriteString(w, "ember egress: "+d.Err+"\n")
		},
		ErrorLog:   p.errLog,
		BufferPool: &p.bufs,
	}
	rp.ServeHTTP(cw, out)
}

// absoluteHTTP returns the authority of an absolute-form http:// target.
func absoluteHTTP(uri string) (string, bool) {
	const scheme = "http://"
	if len(uri) < len(scheme) || !strings.EqualFold(uri[:len(scheme)], scheme) {
		return "", false
	}
	rest := uri[len(scheme):]
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	return rest, true
}

// countReader counts a request body as the Transport reads it (on its own
// goroutine, hence the atomic).
type countReader struct {
	io.ReadCloser
	n atomic.Int64
}

func (r *countReader) Read(b []byte) (int, error) {
	n, err := r.ReadCloser.Read(b)
	r.n.Add(int64(n))
	return n, err
}

// countWriter counts the response body and notes the final status. It
// unwraps for http.ResponseController (flushing).
type countWriter struct {
	http.ResponseWriter
	n      int64
	status int
}

func (w *countWriter) WriteHeader(code int) {
	// 1xx answers arrive from the Transport's goroutine; status is only
	// touched for final ones, which come from the handler's.
	if code >= 200 && w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *countWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// bufferPool recycles copy buffers between requests and tunnels.
type bufferPool struct{ pool sync.Pool }

var _ httputil.BufferPool = (*bufferPool)(nil)

func (b *bufferPool) Get() []byte {
	if v, ok := b.pool.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, copyBuf)
}

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) == copyBuf {
		buf = buf[:copyBuf]
		b.pool.Put(&buf)
	}
}

//go:build linux

package linux

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// InitCommand is the hidden argv[1] that starts a sandbox's PID 1.
const InitCommand = "__ember-sandbox-init"

// File descriptors the host hands to the init (ExtraFiles start at 3).
const (
	initCtlFD    = 3 // SOCK_SEQPACKET control socket
	initStdoutFD = 4 // write end of the runtime's stdout pipe
	initStderrFD = 5 // write end of the runtime's stderr pipe
)

// Message types on the control socket.
const (
	msgSetup   = "setup"   // host → init: you are in the cgroup, build the root
	msgReady   = "ready"   // init → host: the generic sandbox is ready
	msgStart   = "start"   // host → init: specialise (carries the mount fds)
	msgStarted = "started" // init → host: the runtime was executed
	msgExit    = "exit"    // init → host: the runtime ended
	msgExtExit = "extexit" // init → host: an extension ended (Path says which)
	msgError   = "error"   // init → host: setup failed; the init exits
)

// message is one control datagram.
type message struct {
	Type string `json:"type"`

	Root  string     `json:"root,omitempty"`  // setup: where to build the new root
	Start *startSpec `json:"start,omitempty"` // start

	Code   int    `json:"code,omitempty"`   // exit, extexit
	Signal int    `json:"signal,omitempty"` // exit, extexit: the terminating signal, 0 if it exited
	Path   string `json:"path,omitempty"`   // extexit
	Error  string `json:"error,omitempty"`  // error
}

// startSpec is the part of sandbox.Spec the init needs. The code (and
// runtime) directories travel as detached mount fds next to it.
type startSpec struct {
	HasRuntime bool     `json:"hasRuntime,omitempty"`
	Argv       []string `json:"argv"`
	Extensions []string `json:"extensions,omitempty"` // started before the runtime, in this order
	Env        []string `json:"env"`
	UID        int      `json:"uid"`
	GID        int      `json:"gid"`
	TmpMB      int      `json:"tmpMB"`
	NoFile     int      `json:"noFile"`
	Strict     bool     `json:"strict,omitempty"` // the strict seccomp profile
}

// maxMessage bounds one control datagram (a Spec's argv and environment;
// Lambda allows 4 KB of variables).
const maxMessage = 128 << 10

// ctlConn is one end of the control socket. Only one goroutine receives.
type ctlConn struct {
	c   *net.UnixConn
	buf []byte
}

func newCtlConn(f *os.File) (*ctlConn, error) {
	c, err := net.FileConn(f)
	f.Close() // FileConn dups it
	if err != nil {
		return nil, err
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, errors.New("control fd is not a unix socket")
	}
	return &ctlConn{c: uc}, nil
}

func (c *ctlConn) send(m message, fds ...int) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if len(b) > maxMessage {
		return fmt.Errorf("control message of %d bytes exceeds %d", len(b), maxMessage)
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	_, _, err = c.c.WriteMsgUnix(b, oob, nil)
	return err
}

// recv reads one message and any fds passed with it (the caller owns them).
func (c *ctlConn) recv() (message, []int, error) {
	if c.buf == nil {
		c.buf = make([]byte, maxMessage)
	}
	buf := c.buf
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := c.c.ReadMsgUnix(buf, oob)
	if err != nil {
		return message{}, nil, err
	}
	var fds []int
	if oobn > 0 {
		cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return message{}, nil, err
		}
		for _, cm := range cmsgs {
			if r, err := unix.ParseUnixRights(&cm); err == nil {
				fds = append(fds, r...)
			}
		}
	}
	if n == 0 {
		closeAll(fds)
		return message{}, nil, errEOF
	}
	var m message
	if err := json.Unmarshal(buf[:n], &m); err != nil {
		closeAll(fds)
		return message{}, nil, fmt.Errorf("bad control message: %w", err)
	}
	return m, fds, nil
}

func (c *ctlConn) Close() error { return c.c.Close() }

var errEOF = errors.New("control socket closed")

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

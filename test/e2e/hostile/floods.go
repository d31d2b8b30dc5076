package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Floods of processes, memory, descriptors, scratch space, output and CPU.

// attackForkBomb forks children that wait, until the kernel says no, and
// holds them for ev.MS.
func attackForkBomb(_ context.Context, ev event, r *report) {
	// The Go runtime must not need a new thread while no pids are left.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	pids := make([]int, 0, 4096)
	start := time.Now()
	var e syscall.Errno
	for len(pids) < cap(pids) {
		var pid int
		pid, e = forkPause()
		if e != 0 {
			break
		}
		pids = append(pids, pid)
	}
	r.N = int64(len(pids))
	r.step("fork", errno(e))
	r.Text = time.Since(start).String()
	time.Sleep(time.Duration(ev.MS) * time.Millisecond) // hold them
	for _, p := range pids {
		syscall.Kill(p, syscall.SIGKILL)
	}
	for _, p := range pids {
		syscall.Wait4(p, nil, 0, nil)
	}
}

// forkPause forks a child that sleeps until it is killed.
//
//go:nosplit
//go:norace
func forkPause() (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	if r == 0 {
		ts := syscall.Timespec{Sec: 3600}
		for {
			syscall.RawSyscall(syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
		}
	}
	return int(r), 0
}

var hold [][]byte

func attackMemoryBomb(context.Context, event, *report) {
	for {
		b := make([]byte, 8<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		hold = append(hold, b)
	}
}

func attackFDExhaustion(_ context.Context, _ event, r *report) {
	var fds []int
	var err error
	for len(fds) < 1<<20 {
		var fd int
		if fd, err = unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
			break
		}
		fds = append(fds, fd)
	}
	r.N = int64(len(fds))
	r.step("open", err)
	for _, fd := range fds {
		unix.Close(fd)
	}
	r.step("raise RLIMIT_NOFILE", unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 1 << 20, Max: 1 << 20}))
	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	r.Text = fmt.Sprintf("%d/%d", lim.Cur, lim.Max)
}

// attackFill writes ev.MB MiB (at most) into a file in ev.Path, reports
// how much fitted, and removes the file.
func attackFill(_ context.Context, ev event, r *report) {
	name := ev.Path + "/fill"
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		r.step("create", err)
		return
	}
	defer os.Remove(name)
	defer f.Close()
	buf := bytes.Repeat([]byte{'f'}, 1<<20)
	err = nil
	for i := 0; i < ev.MB && err == nil; i++ {
		var n int
		n, err = f.Write(buf)
		r.N += int64(n)
	}
	r.step("write", err)
}

func attackStdoutFlood(_ context.Context, ev event, r *report) {
	line := bytes.Repeat([]byte{'A'}, 1023)
	line = append(line, '\n')
	buf := bytes.Repeat(line, 1024) // 1 MiB
	start := time.Now()
	var err error
	for i := 0; i < ev.MB && err == nil; i++ {
		var n int
		n, err = os.Stdout.Write(buf)
		r.N += int64(n)
	}
	r.step("write", err)
	r.Text = time.Since(start).String()
	fmt.Println("stdout-flood done")
}

var spins uint64

// attackSpin burns CPU and ignores the polite signals until it is killed.
func attackSpin(context.Context, event, *report) {
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	for {
		spins++
	}
}

// attackDaemon double-forks a daemon into its own session that ignores
// SIGTERM and SIGHUP, and waits for its marker.
func attackDaemon(_ context.Context, _ event, r *report) {
	os.Remove("/tmp/daemon-marker")
	parent, err := startChild("daemon-parent")
	r.step("start", err)
	if err != nil {
		return
	}
	r.step("parent exit", parent.Wait())
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile("/tmp/daemon-marker"); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			r.Text = strings.SplitN(string(b), "\n", 2)[0]
			r.Steps["marker"] = "ok"
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.Steps["marker"] = "missing"
}

// attackSleep keeps a child alive for ev.MS and reports whether it still
// lives: a victim for kill-all in another sandbox of the same account.
func attackSleep(_ context.Context, ev event, r *report) {
	child, err := startChild("sleep")
	r.step("start child", err)
	if err != nil {
		return
	}
	time.Sleep(time.Duration(ev.MS) * time.Millisecond)
	var ws syscall.WaitStatus
	if pid, _ := syscall.Wait4(child.Process.Pid, &ws, syscall.WNOHANG, nil); pid == child.Process.Pid {
		r.Steps["child"] = "died: " + ws.Signal().String()
		return
	}
	r.Steps["child"] = "alive"
	child.Process.Kill()
	child.Wait()
}

package e2e

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuSnap is where CPU time went up to an instant: this test process (the
// clients), the ember server, and the whole machine.
type cpuSnap struct {
	self, server, busy time.Duration
}

// clockTick is USER_HZ, the unit of /proc's CPU times (100 on Linux).
const clockTick = 10 * time.Millisecond

// takeCPU reads the snapshot; serverPID 0 leaves server out.
func takeCPU(serverPID int) cpuSnap {
	var s cpuSnap
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.self = time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
	}
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(serverPID) + "/stat"); serverPID > 0 && err == nil {
		// Fields after the command name (which may hold spaces): utime
		// and stime are the 12th and 13th.
		if i := strings.LastIndexByte(string(b), ')'); i > 0 {
			f := strings.Fields(string(b[i+1:]))
			if len(f) > 12 {
				u, _ := strconv.ParseInt(f[11], 10, 64)
				st, _ := strconv.ParseInt(f[12], 10, 64)
				s.server = time.Duration(u+st) * clockTick
			}
		}
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal …
		for i, v := range f[1:] {
			if i == 3 || i == 4 { // idle, iowait
				continue
			}
			n, _ := strconv.ParseInt(v, 10, 64)
			s.busy += time.Duration(n) * clockTick
		}
	}
	return s
}

// reportCPU reports the CPU time per operation between two snapshots:
// the clients (this process), the server, and the rest of the machine
// (the functions' runtimes, the kernel's network work, anything else).
func reportCPU(b *testing.B, before, after cpuSnap, ops int) {
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(ops) }
	client, server := after.self-before.self, after.server-before.server
	b.ReportMetric(per(client), "client-cpu-µs/op")
	b.ReportMetric(per(server), "server-cpu-µs/op")
	b.ReportMetric(per(after.busy-before.busy-client-server), "other-cpu-µs/op")
}

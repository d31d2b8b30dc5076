//go:build linux

package linux_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ember-run/ember/internal/sandbox"
)

// BenchmarkCreateStartTrivial is a cold start without a warming pool:
// Create, Start /bin/true, wait for Done, Close. It also reports each
// phase in ms/op.
func BenchmarkCreateStartTrivial(b *testing.B) {
	d, _ := newDriver(b)
	spec := baseSpec(b, "/bin/true")
	ctx := context.Background()
	var create, start, done, close time.Duration
	for b.Loop() {
		t0 := time.Now()
		sb, err := d.Create(ctx)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := sb.Start(ctx, spec); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		<-sb.Done()
		t3 := time.Now()
		if err := sb.Close(); err != nil {
			b.Fatal(err)
		}
		t4 := time.Now()
		create += t1.Sub(t0)
		start += t2.Sub(t1)
		done += t3.Sub(t2)
		close += t4.Sub(t3)
	}
	n := float64(b.N) * float64(time.Millisecond)
	b.ReportMetric(float64(create)/n, "create-ms/op")
	b.ReportMetric(float64(start)/n, "start-ms/op")
	b.ReportMetric(float64(done)/n, "done-ms/op")
	b.ReportMetric(float64(close)/n, "close-ms/op")
}

// BenchmarkStartOnly specialises a pre-created sandbox, as a warming pool
// would: Start /bin/true and wait for Done (Create and Close are outside
// the timer).
func BenchmarkStartOnly(b *testing.B) {
	d, _ := newDriver(b)
	spec := baseSpec(b, "/bin/true")
	ctx := context.Background()
	b.StopTimer()
	for range b.N {
		sb, err := d.Create(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := sb.Start(ctx, spec); err != nil {
			b.Fatal(err)
		}
		<-sb.Done()
		b.StopTimer()
		sb.Close()
	}
}

// BenchmarkCreateParallel: generic sandboxes made by two goroutines at
// once (what refilling a warming pool does on 2 cores); reports
// sandboxes/s. Close is outside the timing.
func BenchmarkCreateParallel(b *testing.B) {
	d, _ := newDriver(b)
	ctx := context.Background()
	made := make(chan sandbox.Sandbox, b.N)
	b.ResetTimer()
	start := time.Now()
	b.SetParallelism(1) // GOMAXPROCS goroutines: 2 here
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			sb, err := d.Create(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			made <- sb
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sandboxes/s")
	b.StopTimer()
	close(made)
	for sb := range made {
		sb.Close()
	}
}

// BenchmarkIdleFootprint holds N=100 sandboxes, each running a Go program
// parked the way a warm runtime waits for its next event, and reports the
// memory their cgroups charge (runtime and init) per sandbox, and the
// host process's own growth per sandbox (pipes, goroutines, listeners).
//
//	sudo go test -run '^$' -bench IdleFootprint -benchtime 1x ./internal/sandbox/linux
func BenchmarkIdleFootprint(b *testing.B) {
	const n = 100
	d, _ := newDriver(b)
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	src := b.TempDir()
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module park\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(src, "main.go"), []byte(`package main
import ("net/http"; "os"; "time")
func main() {
	// A warm runtime: its HTTP client made, parked on a read.
	c := &http.Client{Timeout: time.Hour}
	_ = c
	os.Stdout.WriteString("parked\n")
	for {
		time.Sleep(time.Hour)
	}
}
`), 0o644)
	code := codeDir(b, nil)
	cmd := exec.Command(goBin, "build", "-o", filepath.Join(code, "bootstrap"), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	ctx := context.Background()
	for b.Loop() {
		before := selfRSS()
		var sbs []sandbox.Sandbox
		for range n {
			sb, err := d.Create(ctx)
			if err != nil {
				b.Fatal(err)
			}
			spec := baseSpec(b, "/var/task/bootstrap")
			spec.CodeDir, spec.MemoryMB = code, 128
			var out lockedBuffer
			spec.Stdout, spec.Stderr = &out, &out
			if err := sb.Start(ctx, spec); err != nil {
				b.Fatal(err)
			}
			sbs = append(sbs, sb)
		}
		time.Sleep(500 * time.Millisecond) // let every runtime park
		anon, rss := sandboxMemory()
		host := selfRSS() - before
		b.ReportMetric(float64(anon)/n/(1<<20), "private-MB/sandbox")
		b.ReportMetric(float64(rss)/n/(1<<20), "rss-MB/sandbox")
		b.ReportMetric(float64(host)/n/(1<<20), "host-MB/sandbox")
		b.ReportMetric(float64(anon+host)/(1<<20), "total-MB/100")
		for _, sb := range sbs {
			sb.Close()
		}
	}
}

// sandboxMemory sums the private (anonymous) and the resident memory of
// every parked runtime (a process named "bootstrap") and of its parent,
// the sandbox's init. (The cgroup v1 usage counters batch charges per CPU
// and under-report small groups, so this reads the processes themselves.)
func sandboxMemory() (anon, rss uint64) {
	read := func(pid string) (a, r uint64, ppid string, comm string) {
		st, err := os.ReadFile(filepath.Join("/proc", pid, "status"))
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(st), "\n") {
			k, v, _ := strings.Cut(line, ":")
			v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
			switch k {
			case "Name":
				comm = v
			case "PPid":
				ppid = v
			case "RssAnon":
				fmt.Sscan(v, &a)
			case "VmRSS":
				fmt.Sscan(v, &r)
			}
		}
		return a << 10, r << 10, ppid, comm
	}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		a, r, ppid, comm := read(d.Name())
		if comm != "bootstrap" {
			continue
		}
		pa, pr, _, _ := read(ppid)
		anon += a + pa
		rss += r + pr
	}
	return anon, rss
}

// selfRSS is this process's resident set size in bytes.
func selfRSS() uint64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, resident uint64
	fmt.Sscan(string(data), &size, &resident)
	return resident * uint64(os.Getpagesize())
}

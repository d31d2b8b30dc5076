//go:build linux

package linux

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeTree writes files (path → content) under a temp dir, standing in for
// cgroupfs, whose control files always exist before anyone writes them.
func fakeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The v2 file logic, on a fake tree: this host (and CI) may only have v1
// controllers.
func TestCgroupV2Files(t *testing.T) {
	root := fakeTree(t, map[string]string{
		"cgroup.controllers":           "cpuset cpu io memory hugetlb pids rdma misc\n",
		"cgroup.subtree_control":       "",
		"ember/cgroup.subtree_control": "",
	})
	h := &cgroupHost{v2: true, v2Root: root, parent: "ember"}
	if err := h.prepareV2(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{root, filepath.Join(root, "ember")} {
		if got := readFile(t, filepath.Join(d, "cgroup.subtree_control")); got != "+memory +pids +cpu" {
			t.Errorf("%s subtree_control = %q", d, got)
		}
	}
	dir := filepath.Join(root, "ember", "sb1")
	cg, err := h.create("sb1")
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]string{
		"memory.max": "max\n", "memory.swap.max": "max\n", "pids.max": "max\n", "pids.current": "3\n",
		"cpu.weight": "100\n", "cpu.max": "max 100000\n", "cgroup.kill": "", "cgroup.procs": "",
		"memory.current": "1048576\n", "memory.peak": "4194304\n",
		"memory.events": "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n",
		"cpu.stat":      "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := cg.limits(3538, 100, true); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"memory.max": "3709861888", "memory.swap.max": "0", "pids.max": "103",
		"cpu.weight": "200", "cpu.max": "200000 100000",
	} {
		if got := readFile(t, filepath.Join(dir, name)); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if err := cg.limits(64, 10, true); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "cpu.weight")); got != "3" {
		t.Errorf("cpu.weight for 64 MB = %q", got)
	}
	if got := readFile(t, filepath.Join(dir, "cpu.max")); got != "10000 100000" {
		t.Errorf("cpu.max for 64 MB = %q (want the 10%% floor)", got)
	}
	if !cg.oomKilled() {
		t.Error("oom_kill 1 not seen")
	}
	peak, cur, cpu, err := cg.usage()
	if err != nil || peak != 4<<20 || cur != 1<<20 || cpu != 1500*time.Microsecond {
		t.Errorf("usage = %d %d %v %v", peak, cur, cpu, err)
	}
	if err := cg.kill(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "cgroup.kill")); got != "1" {
		t.Errorf("cgroup.kill = %q", got)
	}
	// A missing optional file is skipped, not created.
	os.Remove(filepath.Join(dir, "memory.swap.max"))
	if err := cg.limits(128, 10, false); err != nil {
		t.Fatalf("limits without memory.swap.max: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "memory.swap.max")); !os.IsNotExist(err) {
		t.Error("memory.swap.max was created")
	}
}

func TestCgroupV2MissingController(t *testing.T) {
	root := fakeTree(t, map[string]string{"cgroup.controllers": "cpu io pids\n"})
	h := &cgroupHost{v2: true, v2Root: root, parent: "ember"}
	err := h.prepareV2()
	if err == nil || !strings.Contains(err.Error(), "memory") {
		t.Fatalf("prepareV2 without memory: %v", err)
	}
}

func TestCgroupV1Limits(t *testing.T) {
	root := fakeTree(t, map[string]string{})
	h := &cgroupHost{parent: "ember", v1: map[string]string{}}
	for _, c := range []string{"memory", "pids", "cpu", "cpuacct"} {
		h.v1[c] = filepath.Join(root, c)
		os.MkdirAll(filepath.Join(root, c, "ember"), 0o755)
	}
	cg, err := h.create("sb1")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"memory/sb1/memory.limit_in_bytes": "", "memory/sb1/memory.swappiness": "",
		"memory/sb1/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
		"pids/sb1/pids.max":             "", "pids/sb1/pids.current": "2\n",
		"cpu/sb1/cpu.shares": "", "cpu/sb1/cpu.cfs_quota_us": "", "cpu/sb1/cpu.cfs_period_us": "",
	}
	for p, c := range files {
		parts := strings.SplitN(p, "/", 2)
		os.WriteFile(filepath.Join(root, parts[0], "ember", parts[1]), []byte(c), 0o644)
	}
	// No memory.memsw.* (swap accounting off): skipped.
	if err := cg.limits(1769, 50, true); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{
		"memory/memory.limit_in_bytes": "1854930944", "memory/memory.swappiness": "0",
		"pids/pids.max": "52", "cpu/cpu.shares": "1024", "cpu/cpu.cfs_quota_us": "100000",
	} {
		parts := strings.SplitN(p, "/", 2)
		if got := readFile(t, filepath.Join(root, parts[0], "ember", "sb1", parts[1])); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	if cg.oomKilled() {
		t.Error("oom_kill 0 read as killed")
	}
}

// memoryBound: at the limit with (almost) only anon+shmem charged is a
// stall; at the limit with reclaimable page cache, or never at the limit,
// is not.
func TestCgroupMemoryBound(t *testing.T) {
	const limit = 128 << 20
	stat := func(anonKey string, anon, shmem int64) string {
		return anonKey + " " + itoa(anon) + "\nfile 1000\nshmem " + itoa(shmem) + "\n"
	}
	cases := []struct {
		name        string
		hits        int64
		anon, shmem int64
		want        bool
	}{
		{"anon at the limit", 3, limit - 1<<20, 0, true},
		{"anon plus tmpfs at the limit", 1, 60 << 20, 66 << 20, true},
		{"page cache at the limit", 40, 20 << 20, 0, false},
		{"never hit the limit", 0, limit - 1<<20, 0, false},
		{"well below with hits", 2, 100 << 20, 0, false},
	}
	for _, c := range cases {
		v2 := fakeTree(t, map[string]string{
			"memory.max":    itoa(limit) + "\n",
			"memory.events": "low 0\nhigh 0\nmax " + itoa(c.hits) + "\noom 0\noom_kill 0\n",
			"memory.stat":   stat("anon", c.anon, c.shmem),
		})
		cg := &cgroup{host: &cgroupHost{v2: true}, dir: v2}
		if got := cg.memoryBound(); got != c.want {
			t.Errorf("v2 %s: memoryBound = %v, want %v", c.name, got, c.want)
		}
		v1 := fakeTree(t, map[string]string{
			"memory.limit_in_bytes": itoa(limit) + "\n",
			"memory.failcnt":        itoa(c.hits) + "\n",
			"memory.stat":           "cache 5\n" + stat("rss", c.anon, c.shmem),
		})
		cg = &cgroup{host: &cgroupHost{}, v1: map[string]string{"memory": v1}}
		if got := cg.memoryBound(); got != c.want {
			t.Errorf("v1 %s: memoryBound = %v, want %v", c.name, got, c.want)
		}
	}
	// No limit set ("max"): never bound.
	cg := &cgroup{host: &cgroupHost{v2: true}, dir: fakeTree(t, map[string]string{
		"memory.max": "max\n", "memory.events": "max 9\n", "memory.stat": stat("anon", 1<<40, 0),
	})}
	if cg.memoryBound() {
		t.Error("unlimited cgroup reported bound")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

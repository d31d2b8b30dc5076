//go:build linux

package linux

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/cgroups/v3"
	"golang.org/x/sys/unix"
)

// containerd/cgroups/v3 decides the mode; the files themselves are written
// directly. Its cgroup1/cgroup2 managers would pull in systemd, dbus and
// eBPF dependencies for the handful of files a sandbox needs, and neither
// exposes cgroup.kill or the v1 freeze-kill-thaw loop the teardown relies on.

// cgroupHost is the host's cgroup layout, found once by New.
type cgroupHost struct {
	v2     bool
	v2Root string            // v2: the unified mount point
	v1     map[string]string // v1: controller → mount point of its hierarchy
	parent string            // relative path of ember's parent cgroup
}

// v1 controllers the driver needs, and those it uses when present.
var (
	v1Required = []string{"memory", "pids", "cpu"}
	v1Optional = []string{"cpuacct", "freezer"}
	v2Required = []string{"memory", "pids", "cpu"}
)

func detectCgroups(parent string) (*cgroupHost, error) {
	parent = strings.Trim(filepath.Clean("/"+parent), "/")
	if parent == "" {
		return nil, errors.New("empty cgroup parent")
	}
	h := &cgroupHost{parent: parent}
	switch cgroups.Mode() {
	case cgroups.Unified:
		h.v2 = true
		h.v2Root = "/sys/fs/cgroup"
		if err := h.prepareV2(); err != nil {
			return nil, err
		}
		return h, h.capPids()
	case cgroups.Legacy, cgroups.Hybrid:
		mounts, err := v1Mounts()
		if err != nil {
			return nil, err
		}
		h.v1 = map[string]string{}
		var missing []string
		for _, c := range v1Required {
			if m, ok := mounts[c]; ok {
				h.v1[c] = m
			} else {
				missing = append(missing, c)
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("cgroup v1 controllers not mounted: %s", strings.Join(missing, ", "))
		}
		for _, c := range v1Optional {
			if m, ok := mounts[c]; ok {
				h.v1[c] = m
			}
		}
		for c, m := range h.v1 {
			if err := os.MkdirAll(filepath.Join(m, parent), 0o755); err != nil {
				return nil, fmt.Errorf("cgroup v1 %s controller not writable: %w", c, err)
			}
		}
		return h, h.capPids()
	default:
		return nil, errors.New("no cgroup filesystem mounted at /sys/fs/cgroup")
	}
}

// capPids caps the parent at half of what the host can run (the smaller of
// kernel.pid_max and kernel.threads-max): each sandbox stays within its own
// pids limit, but together they could otherwise use up the host's pids and
// leave it, and ember, unable to start a process or thread.
func (h *cgroupHost) capPids() error {
	hostMax := int64(1 << 22)
	for _, f := range []string{"/proc/sys/kernel/pid_max", "/proc/sys/kernel/threads-max"} {
		if n, err := readInt(f); err == nil && n > 0 {
			hostMax = min(hostMax, n)
		}
	}
	dir := filepath.Join(h.v2Root, h.parent)
	if !h.v2 {
		dir = filepath.Join(h.v1["pids"], h.parent)
	}
	return writeFile(dir, "pids.max", strconv.FormatInt(hostMax/2, 10))
}

// v1Mounts maps each v1 controller to the mount point of its hierarchy.
func v1Mounts() (map[string]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent maj:min root mountpoint opts [optional...] - fstype source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 || qf[0] != "cgroup" {
			continue
		}
		for _, opt := range strings.Split(qf[2], ",") {
			if _, seen := out[opt]; !seen {
				out[opt] = pf[4]
			}
		}
	}
	return out, sc.Err()
}

// prepareV2 makes ember's parent cgroup and enables the controllers it needs
// on the way down to it.
func (h *cgroupHost) prepareV2() error {
	b, err := os.ReadFile(filepath.Join(h.v2Root, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("cgroup v2: %w", err)
	}
	have := strings.Fields(string(b))
	var missing []string
	for _, c := range v2Required {
		if !contains(have, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("cgroup v2 controllers not available: %s", strings.Join(missing, ", "))
	}
	enable := "+" + strings.Join(v2Required, " +")
	dir := h.v2Root
	for _, part := range strings.Split(h.parent, "/") {
		if err := enableV2(dir, enable); err != nil {
			return err
		}
		dir = filepath.Join(dir, part)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("cgroup v2 not writable: %w", err)
		}
	}
	return enableV2(dir, enable)
}

func enableV2(dir, enable string) error {
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	have := strings.Fields(string(b))
	done := true
	for _, c := range v2Required {
		done = done && contains(have, c)
	}
	if done {
		return nil
	}
	if err := writeFile(dir, "cgroup.subtree_control", enable); err != nil {
		return fmt.Errorf("cgroup v2: cannot enable %s in %s (a cgroup with processes cannot delegate controllers): %w", enable, dir, err)
	}
	return nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// cgroup is one sandbox's cgroup (one directory on v2, one per hierarchy on v1).
type cgroup struct {
	host *cgroupHost
	dir  string            // v2
	v1   map[string]string // v1: controller → directory
	dirs []string          // distinct directories, for procs, kill and removal
}

func (h *cgroupHost) create(id string) (*cgroup, error) {
	cg := &cgroup{host: h}
	if h.v2 {
		cg.dir = filepath.Join(h.v2Root, h.parent, id)
		if err := os.Mkdir(cg.dir, 0o755); err != nil {
			return nil, err
		}
		cg.dirs = []string{cg.dir}
		return cg, nil
	}
	cg.v1 = map[string]string{}
	for c, m := range h.v1 {
		d := filepath.Join(m, h.parent, id)
		cg.v1[c] = d
		if contains(cg.dirs, d) {
			continue
		}
		if err := os.Mkdir(d, 0o755); err != nil {
			cg.remove()
			return nil, err
		}
		cg.dirs = append(cg.dirs, d)
	}
	return cg, nil
}

// openDir opens the v2 directory for clone3(CLONE_INTO_CGROUP).
func (cg *cgroup) openDir() (*os.File, error) { return os.Open(cg.dir) }

// addProc moves a process (all its threads) into every hierarchy.
func (cg *cgroup) addProc(pid int) error {
	for _, d := range cg.dirs {
		if err := writeFile(d, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// lambdaCoreMB is how much memory buys one full vCPU on Lambda.
const lambdaCoreMB = 1769

// limits applies a Spec's resource limits. pids counts processes and threads
// of the tenant; the init's own threads come on top of it.
func (cg *cgroup) limits(memoryMB, pids int, hardCPU bool) error {
	mem := int64(memoryMB) << 20
	pids += cg.pidsCurrent()
	period := int64(100000)
	quota := period * int64(memoryMB) / lambdaCoreMB
	quota = max(quota, period/10)
	if cg.host.v2 {
		weight := max(1, min(10000, 100*memoryMB/lambdaCoreMB))
		if err := writeFile(cg.dir, "memory.max", strconv.FormatInt(mem, 10)); err != nil {
			return err
		}
		if err := writeFile(cg.dir, "memory.swap.max", "0"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err := writeFile(cg.dir, "pids.max", strconv.Itoa(pids)); err != nil {
			return err
		}
		if err := writeFile(cg.dir, "cpu.weight", strconv.Itoa(weight)); err != nil {
			return err
		}
		if hardCPU {
			return writeFile(cg.dir, "cpu.max", fmt.Sprintf("%d %d", quota, period))
		}
		return nil
	}
	md := cg.v1["memory"]
	if err := writeFile(md, "memory.limit_in_bytes", strconv.FormatInt(mem, 10)); err != nil {
		return err
	}
	if err := writeFile(md, "memory.memsw.limit_in_bytes", strconv.FormatInt(mem, 10)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := writeFile(md, "memory.swappiness", "0"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := writeFile(cg.v1["pids"], "pids.max", strconv.Itoa(pids)); err != nil {
		return err
	}
	shares := max(2, 1024*memoryMB/lambdaCoreMB)
	if err := writeFile(cg.v1["cpu"], "cpu.shares", strconv.Itoa(shares)); err != nil {
		return err
	}
	if hardCPU {
		if err := writeFile(cg.v1["cpu"], "cpu.cfs_period_us", strconv.FormatInt(period, 10)); err != nil {
			return err
		}
		return writeFile(cg.v1["cpu"], "cpu.cfs_quota_us", strconv.FormatInt(quota, 10))
	}
	return nil
}

func (cg *cgroup) pidsCurrent() int {
	d := cg.dir
	if !cg.host.v2 {
		d = cg.v1["pids"]
	}
	n, _ := readInt(filepath.Join(d, "pids.current"))
	return int(n)
}

// procs lists the processes in the cgroup.
func (cg *cgroup) procs() []int {
	var pids []int
	for _, d := range cg.dirs {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if p, err := strconv.Atoi(f); err == nil && !containsInt(pids, p) {
				pids = append(pids, p)
			}
		}
	}
	return pids
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// kill SIGKILLs every process in the cgroup: cgroup.kill on v2; on v1 a
// freeze (when the freezer is there, so nothing forks or exits between
// reading cgroup.procs and the kill), kill everything listed, thaw, until
// the cgroup is empty.
func (cg *cgroup) kill() error {
	if cg.host.v2 {
		err := writeFile(cg.dir, "cgroup.kill", "1")
		if err == nil || errors.Is(err, os.ErrNotExist) && len(cg.procs()) == 0 {
			return nil
		}
	}
	freezer := cg.v1["freezer"]
	for range 100 {
		if freezer != "" {
			cg.freeze(freezer)
		}
		pids := cg.procs()
		for _, p := range pids {
			unix.Kill(p, unix.SIGKILL)
		}
		if freezer != "" {
			writeFile(freezer, "freezer.state", "THAWED")
		}
		if len(pids) == 0 {
			return nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Errorf("processes left in cgroup %s", cg.dirs[0])
}

func (cg *cgroup) freeze(dir string) {
	if writeFile(dir, "freezer.state", "FROZEN") != nil {
		return
	}
	for range 50 {
		b, err := os.ReadFile(filepath.Join(dir, "freezer.state"))
		if err != nil || strings.TrimSpace(string(b)) == "FROZEN" {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// oomKilled reports whether the memory controller killed a process.
func (cg *cgroup) oomKilled() bool {
	file := filepath.Join(cg.dir, "memory.events")
	if !cg.host.v2 {
		file = filepath.Join(cg.v1["memory"], "memory.oom_control")
	}
	n, _ := readKey(file, "oom_kill")
	return n > 0
}

// memoryBound reports whether the cgroup reached its memory limit and what
// it holds there is almost all unreclaimable: anonymous memory plus shmem
// (tmpfs). Within boundSlack of the limit, only the program's own file
// pages are left to evict, and the kernel thrashes on them instead of
// invoking the OOM killer.
func (cg *cgroup) memoryBound() bool {
	dir, limitFile, hitFile, hitKey, anonKey := cg.dir, "memory.max", "memory.events", "max", "anon"
	if !cg.host.v2 {
		dir = cg.v1["memory"]
		limitFile, hitFile, hitKey, anonKey = "memory.limit_in_bytes", "memory.failcnt", "", "rss"
	}
	limit, err := readInt(filepath.Join(dir, limitFile))
	if err != nil || limit <= 0 {
		return false
	}
	var hits int64
	if hitKey == "" {
		hits, err = readInt(filepath.Join(dir, hitFile))
	} else {
		hits, err = readKey(filepath.Join(dir, hitFile), hitKey)
	}
	if err != nil || hits == 0 {
		return false
	}
	anon, err := readKey(filepath.Join(dir, "memory.stat"), anonKey)
	if err != nil {
		return false
	}
	shmem, _ := readKey(filepath.Join(dir, "memory.stat"), "shmem")
	slack := max(limit/32, 4<<20)
	return anon+shmem >= limit-slack
}

// usage reads peak and current memory and CPU time.
func (cg *cgroup) usage() (peak, cur uint64, cpu time.Duration, err error) {
	if cg.host.v2 {
		c, err := readInt(filepath.Join(cg.dir, "memory.current"))
		if err != nil {
			return 0, 0, 0, err
		}
		p, err := readInt(filepath.Join(cg.dir, "memory.peak"))
		if err != nil {
			p = c
		}
		us, err := readKey(filepath.Join(cg.dir, "cpu.stat"), "usage_usec")
		return uint64(p), uint64(c), time.Duration(us) * time.Microsecond, err
	}
	md := cg.v1["memory"]
	c, err := readInt(filepath.Join(md, "memory.usage_in_bytes"))
	if err != nil {
		return 0, 0, 0, err
	}
	p, err := readInt(filepath.Join(md, "memory.max_usage_in_bytes"))
	if err != nil {
		return 0, 0, 0, err
	}
	if d, ok := cg.v1["cpuacct"]; ok {
		ns, err := readInt(filepath.Join(d, "cpuacct.usage"))
		return uint64(p), uint64(c), time.Duration(ns), err
	}
	return uint64(p), uint64(c), 0, nil
}

// remove deletes the cgroup directories, retrying briefly while the last
// processes drain out.
func (cg *cgroup) remove() error {
	var errs []error
	for _, d := range cg.dirs {
		var err error
		for range 200 {
			err = unix.Rmdir(d)
			if err == nil || errors.Is(err, unix.ENOENT) {
				err = nil
				break
			}
			if !errors.Is(err, unix.EBUSY) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

// writeFile writes a cgroup file. Without O_CREAT: a missing (optional)
// control file must read as ENOENT, which kernfs would turn into EACCES.
func writeFile(dir, name, val string) error {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(val)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return -1, nil
	}
	return strconv.ParseInt(s, 10, 64)
}

// readKey reads "key value" lines (memory.events, cpu.stat, oom_control).
func readKey(path, key string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", path, key)
}

// open returns the cgroup of an existing sandbox id without creating it.
func (h *cgroupHost) open(id string) *cgroup {
	cg := &cgroup{host: h}
	if h.v2 {
		cg.dir = filepath.Join(h.v2Root, h.parent, id)
		cg.dirs = []string{cg.dir}
		return cg
	}
	cg.v1 = map[string]string{}
	for c, m := range h.v1 {
		d := filepath.Join(m, h.parent, id)
		cg.v1[c] = d
		if !contains(cg.dirs, d) {
			cg.dirs = append(cg.dirs, d)
		}
	}
	return cg
}

// leftovers lists the sandbox cgroups under the parent: after a crash of
// the process that owned the parent, they belong to nobody.
func (h *cgroupHost) leftovers() []string {
	var root string
	if h.v2 {
		root = filepath.Join(h.v2Root, h.parent)
	} else {
		root = filepath.Join(h.v1["memory"], h.parent)
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() {
			ids = append(ids, e.Name())
		}
	}
	return ids
}

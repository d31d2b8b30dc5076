//go:build linux

package linux

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Mount flags every sandbox mount gets unless it needs device nodes.
const (
	msSafe   = unix.MS_NOSUID | unix.MS_NODEV
	msRO     = msSafe | unix.MS_RDONLY
	msNoExec = msSafe | unix.MS_NOEXEC
)

// hostSystem is what the sandbox sees of the host, read-only.
var (
	hostLinks = []string{"bin", "sbin", "lib", "lib32", "lib64", "libx32"} // usually symlinks into /usr
	hostEtc   = []string{
		"/etc/ssl", "/etc/ca-certificates", "/etc/alternatives", "/etc/localtime",
		"/etc/timezone", "/etc/ld.so.cache", "/etc/mime.types",
	}
	devNodes  = []string{"null", "zero", "full", "random", "urandom"}
	procMask  = []string{"kcore", "keys", "timer_list", "sched_debug", "latency_stats", "kallsyms", "kpagecount", "kpageflags", "kpagecgroup", "config.gz"}
	procEmpty = []string{"acpi", "scsi", "asound", "firmware", "driver"}
	procRO    = []string{"sys", "bus", "fs", "irq", "sysrq-trigger"}
)

// generic /etc content; passwd and group are rewritten with the tenant's
// uid on Start.
var etcFiles = map[string]string{
	"hosts":         "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n",
	"hostname":      "sandbox\n",
	"resolv.conf":   "",
	"nsswitch.conf": "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n",
	"passwd":        passwd(0, 0),
	"group":         group(0),
}

func passwd(uid, gid int) string {
	s := "root:x:0:0:root:/root:/usr/sbin/nologin\n"
	if uid > 0 {
		s += fmt.Sprintf("sbx:x:%d:%d:sandbox:/tmp:/usr/sbin/nologin\n", uid, gid)
	}
	return s + "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
}

func group(gid int) string {
	s := "root:x:0:\n"
	if gid > 0 {
		s += fmt.Sprintf("sbx:x:%d:\n", gid)
	}
	return s + "nogroup:x:65534:\n"
}

// buildRoot assembles the sandbox's root on a tmpfs at root, then
// pivot_roots into it and makes it read-only. It runs in the init, in its
// own (private) mount namespace.
func buildRoot(root string) error {
	if err := unix.Mount("tmpfs", root, "tmpfs", msSafe, "size=1m,nr_inodes=4096,mode=0755"); err != nil {
		return fmt.Errorf("mount root tmpfs: %w", err)
	}
	at := func(p string) string { return filepath.Join(root, p) }
	for _, d := range []string{"etc", "dev", "proc", "sys", "tmp", "var/task", "opt/ember", "usr"} {
		if err := os.MkdirAll(at(d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Symlink("../tmp", at("var/tmp")); err != nil {
		return err
	}
	if err := bindRO("/usr", at("usr")); err != nil {
		return err
	}
	for _, name := range hostLinks {
		if err := mirror("/"+name, at(name)); err != nil {
			return err
		}
	}
	for _, p := range hostEtc {
		if err := mirror(p, at(p)); err != nil {
			return err
		}
	}
	for name, content := range etcFiles {
		if err := os.WriteFile(at("etc/"+name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	if err := buildDev(at("dev")); err != nil {
		return err
	}
	if err := buildProc(at("proc"), at("dev/null")); err != nil {
		return err
	}
	return pivot(root)
}

// mirror reproduces a host path read-only: a symlink as the same symlink,
// a directory or file as a read-only bind mount. Missing paths are skipped.
func mirror(src, dst string) error {
	fi, err := os.Lstat(src)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(target, dst)
	case fi.IsDir():
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
	case fi.Mode().IsRegular():
		if err := os.WriteFile(dst, nil, 0o644); err != nil {
			return err
		}
	default:
		return nil
	}
	return bindRO(src, dst)
}

// bindRO bind-mounts src on dst read-only, nosuid, nodev, keeping noexec
// if the source had it.
func bindRO(src, dst string) error {
	return bind(src, dst, msRO)
}

func bind(src, dst string, flags uintptr) error {
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s: %w", src, err)
	}
	var st unix.Statfs_t
	if unix.Statfs(src, &st) == nil && st.Flags&unix.ST_NOEXEC != 0 {
		flags |= unix.MS_NOEXEC
	}
	if err := unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|flags, ""); err != nil {
		return fmt.Errorf("remount %s read-only: %w", dst, err)
	}
	return nil
}

// buildDev makes a small /dev: the five harmless character devices (bound
// from the host), the usual symlinks and a size-capped /dev/shm.
func buildDev(dev string) error {
	if err := unix.Mount("tmpfs", dev, "tmpfs", msNoExec, "size=64k,nr_inodes=64,mode=0755"); err != nil {
		return fmt.Errorf("mount /dev: %w", err)
	}
	for _, n := range devNodes {
		p := filepath.Join(dev, n)
		if err := os.WriteFile(p, nil, 0o666); err != nil {
			return err
		}
		// Device nodes need a mount without nodev; read-only does not stop
		// writes to a device.
		if err := bind("/dev/"+n, p, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NOEXEC); err != nil {
			return err
		}
	}
	for name, target := range map[string]string{
		"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
		"stderr": "/proc/self/fd/2",
	} {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return err
		}
	}
	shm := filepath.Join(dev, "shm")
	if err := os.Mkdir(shm, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", shm, "tmpfs", msNoExec, "size=64m,mode=1777"); err != nil {
		return fmt.Errorf("mount /dev/shm: %w", err)
	}
	if err := unix.Mount("", dev, "", unix.MS_REMOUNT|unix.MS_RDONLY|msNoExec, ""); err != nil {
		return fmt.Errorf("remount /dev read-only: %w", err)
	}
	return nil
}

// buildProc mounts a proc for the sandbox's pid namespace and masks what
// tells about, or acts on, the host.
func buildProc(proc, devNull string) error {
	if err := unix.Mount("proc", proc, "proc", msNoExec, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	exists := func(p string) bool { _, err := os.Lstat(p); return err == nil }
	for _, n := range procMask {
		if p := filepath.Join(proc, n); exists(p) {
			if err := unix.Mount(devNull, p, "", unix.MS_BIND, ""); err != nil {
				return fmt.Errorf("mask /proc/%s: %w", n, err)
			}
		}
	}
	for _, n := range procEmpty {
		if p := filepath.Join(proc, n); exists(p) {
			if err := unix.Mount("tmpfs", p, "tmpfs", msNoExec|unix.MS_RDONLY, "size=4k,nr_inodes=1"); err != nil {
				return fmt.Errorf("mask /proc/%s: %w", n, err)
			}
		}
	}
	for _, n := range procRO {
		if p := filepath.Join(proc, n); exists(p) {
			if err := bind(p, p, msNoExec|unix.MS_RDONLY); err != nil {
				return err
			}
		}
	}
	return nil
}

// pivot makes root the root, detaches the old one and makes the new root
// read-only.
func pivot(root string) error {
	if err := unix.Chdir(root); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	return remountRoot(true)
}

func remountRoot(ro bool) error {
	flags := uintptr(unix.MS_REMOUNT | msSafe)
	if ro {
		flags |= unix.MS_RDONLY
	}
	if err := unix.Mount("", "/", "", flags, ""); err != nil {
		return fmt.Errorf("remount / (ro=%v): %w", ro, err)
	}
	return nil
}

// attach mounts a detached tree (from the host's open_tree) at target,
// read-only, nosuid, nodev.
func attach(fd int, target string) error {
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	setattr := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr)
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount %s: %w", target, err)
	}
	if setattr != nil { // kernels before 5.12
		if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|msRO, ""); err != nil {
			return fmt.Errorf("remount %s read-only: %w", target, err)
		}
	}
	return nil
}

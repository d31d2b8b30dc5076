// Package linux is ember's Linux sandbox driver: each sandbox is a re-exec'd
// init process (ember's own binary) in new mount, pid, ipc, uts, net and
// cgroup namespaces, inside its own cgroup (v1 or v2), on a read-only root
// built from read-only bind mounts of the host's system directories.
//
// The host side (Driver, Sandbox) makes the cgroup, starts the init and talks
// to it over a SOCK_SEQPACKET control socket carrying small JSON messages
// (and, on Start, the code directory as a detached mount made with
// open_tree). The init builds the root, reports ready and waits; on Start it
// mounts the code, /tmp and the runtime clients, drops its bounding set,
// locks itself down (rlimits, no_new_privs, an empty inheritable set,
// Landlock and a default-deny seccomp filter on every thread, every fd above
// 2 close-on-exec) and forks the runtime directly as the tenant's uid, which
// clears every capability; everything is inherited. The init stays behind as
// PID 1, reaping orphans; when the runtime exits it reports how and exits,
// which kills everything else in the sandbox's pid namespace.
//
// Programs that use the driver must call RunInit early in main when IsInit
// reports true (tests do it in TestMain).
package linux

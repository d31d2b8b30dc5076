//go:build unix

package bundle

import "syscall"

// oNoFollow makes opening a file fail rather than follow a symlink.
const oNoFollow = syscall.O_NOFOLLOW

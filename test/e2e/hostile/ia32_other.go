//go:build !amd64

package main

import "syscall"

// int80 exists on amd64 only.
func int80(trap, a1, a2, a3 uintptr, childExit bool) uintptr {
	e := uintptr(syscall.ENOSYS)
	return -e
}

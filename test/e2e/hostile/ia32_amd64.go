package main

// int80 makes a system call through the 32-bit ABI (int $0x80) with three
// arguments and returns the raw result (-errno on failure). With childExit,
// a result of 0 (the child of a clone) exits at once.
//
//go:noescape
func int80(trap, a1, a2, a3 uintptr, childExit bool) uintptr

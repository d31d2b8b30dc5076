#include "textflag.h"

// func int80(trap, a1, a2, a3 uintptr, childExit bool) uintptr
TEXT ·int80(SB), NOSPLIT, $0-48
	MOVQ	trap+0(FP), AX
	MOVQ	a1+8(FP), BX
	MOVQ	a2+16(FP), CX
	MOVQ	a3+24(FP), DX
	XORQ	SI, SI
	XORQ	DI, DI
	INT	$0x80
	CMPB	childExit+32(FP), $0
	JEQ	done
	CMPQ	AX, $0
	JNE	done
	MOVQ	$231, AX // exit_group, x86_64 ABI
	XORQ	DI, DI
	SYSCALL
done:
	MOVQ	AX, ret+40(FP)
	RET

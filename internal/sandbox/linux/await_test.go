//go:build linux

package linux

import (
	"context"
	"testing"
)

// A runtime that exits at once ends the init right after its "started":
// when the reply and the exit are both there, the reply counts (select
// picks either at random, so every round must see it).
func TestAwaitReplyBeforeExit(t *testing.T) {
	for range 100 {
		s := &Sandbox{dir: t.TempDir(), replies: make(chan message, 4), done: make(chan struct{})}
		s.replies <- message{Type: msgStarted}
		close(s.done)
		if _, err := s.await(context.Background(), msgStarted); err != nil {
			t.Fatalf("a reply sent before the exit was lost: %v", err)
		}
	}
	s := &Sandbox{dir: t.TempDir(), replies: make(chan message, 4), done: make(chan struct{})}
	close(s.done)
	if _, err := s.await(context.Background(), msgStarted); err == nil {
		t.Fatal("an init that exited without a reply was taken for started")
	}
}

package logs

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ember-run/ember/internal/store"
)

func TestAppendReadFollow(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := Open(ctx, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	read := func(since time.Time) []string {
		got = nil
		err := l.Read(ctx, "111111111111", "f", since, false, func(r Record) error {
			got = append(got, r.Text)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if n := len(read(time.Time{})); n != 0 {
		t.Fatalf("empty log returned %d records", n)
	}
	for i := range 5 {
		l.Append("111111111111", "f", Record{Time: time.Now(), Text: fmt.Sprint("line", i)})
	}
	l.Append("111111111111", "other", Record{Text: "not mine"})
	l.Append("222222222222", "f", Record{Text: "other account"})
	l.Flush(ctx)
	if g := read(time.Time{}); len(g) != 5 || g[0] != "line0" || g[4] != "line4" {
		t.Fatalf("read %v", g)
	}
	if g := read(time.Now().Add(time.Minute)); len(g) != 0 {
		t.Fatalf("since future: %v", g)
	}

	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	seen := make(chan string, 10)
	go l.Read(fctx, "111111111111", "f", time.Now().Add(-time.Hour), true, func(r Record) error {
		seen <- r.Text
		return nil
	})
	for range 5 {
		<-seen
	}
	l.Append("111111111111", "f", Record{Text: "live"})
	select {
	case s := <-seen:
		if s != "live" {
			t.Fatalf("followed %q", s)
		}
	case <-fctx.Done():
		t.Fatal("follow did not deliver a new record")
	}
}

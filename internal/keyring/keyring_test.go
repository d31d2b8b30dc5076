package keyring

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSealRoundTripAndPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.key")
	k1, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", st.Mode())
	}
	sealed := k1.Seal([]byte("secret"), []byte("key.A"))
	if bytes.Contains(sealed, []byte("secret")) {
		t.Fatal("plaintext visible in sealed value")
	}
	k2, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := k2.Open(sealed, []byte("key.A"))
	if err != nil || string(got) != "secret" {
		t.Fatalf("open after reload: %q %v", got, err)
	}
	if _, err := k2.Open(sealed, []byte("key.B")); !errors.Is(err, ErrOpen) {
		t.Fatalf("wrong aad: %v", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := k2.Open(sealed, []byte("key.A")); !errors.Is(err, ErrOpen) {
		t.Fatalf("tampered: %v", err)
	}
	other, _ := New(bytes.Repeat([]byte{7}, 32))
	if _, err := other.Open(k1.Seal([]byte("x"), nil), nil); !errors.Is(err, ErrOpen) {
		t.Fatalf("other key: %v", err)
	}
}

func TestMAC(t *testing.T) {
	k, _ := New(bytes.Repeat([]byte{1}, 32))
	m := k.MAC("code", "ab", "c")
	if !k.Verify(m, "code", "ab", "c") {
		t.Fatal("verify failed")
	}
	if k.Verify(m, "code", "a", "bc") || k.Verify(m, "other", "ab", "c") {
		t.Fatal("mac not bound to parts and purpose")
	}
	if os.WriteFile(filepath.Join(t.TempDir(), "k"), []byte("short"), 0o600) != nil {
		t.Fatal()
	}
}

func TestLoadRejectsBadKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.key")
	os.WriteFile(path, []byte("short"), 0o600)
	if _, err := LoadOrCreate(path); err == nil {
		t.Fatal("short key accepted")
	}
}

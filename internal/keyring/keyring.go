// Package keyring holds the server's master key (kept in the data directory,
// mode 0600) and derives from it what ember needs: authenticated encryption of
// secrets at rest and MACs for URLs the server signs.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrOpen is returned for ciphertext that does not authenticate.
var ErrOpen = errors.New("keyring: cannot decrypt (wrong key or tampered data)")

const keySize = 32

// Keyring derives working keys from one master key.
type Keyring struct {
	aead   cipher.AEAD
	master []byte
}

// LoadOrCreate reads the master key at path, or creates it (0600) when absent.
func LoadOrCreate(path string) (*Keyring, error) {
	key, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		key = make([]byte, keySize)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("keyring: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("keyring: create %s: %w", path, err)
		}
		if _, err := f.Write(key); err != nil {
			f.Close()
			return nil, fmt.Errorf("keyring: write %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("keyring: write %s: %w", path, err)
		}
	case err != nil:
		return nil, fmt.Errorf("keyring: read %s: %w", path, err)
	}
	if len(key) != keySize {
		return nil, fmt.Errorf("keyring: %s holds %d bytes, want %d", path, len(key), keySize)
	}
	return New(key)
}

// New builds a keyring from a 32-byte master key.
func New(master []byte) (*Keyring, error) {
	if len(master) != keySize {
		return nil, fmt.Errorf("keyring: master key must be %d bytes", keySize)
	}
	block, err := aes.NewCipher(derive(master, "ember/seal"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Keyring{aead: aead, master: append([]byte(nil), master...)}, nil
}

func derive(master []byte, purpose string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// Seal encrypts plain, binding it to aad (e.g. the record's key) so a sealed
// value cannot be moved to another record.
func (k *Keyring) Seal(plain, aad []byte) []byte {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("keyring: no randomness: " + err.Error())
	}
	return k.aead.Seal(nonce, nonce, plain, aad)
}

// Open decrypts a value made by Seal with the same aad.
func (k *Keyring) Open(sealed, aad []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n+k.aead.Overhead() {
		return nil, ErrOpen
	}
	plain, err := k.aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// MAC returns an HMAC-SHA256 over parts under a key derived for purpose.
// Parts are length-prefixed so ("ab","c") and ("a","bc") differ.
func (k *Keyring) MAC(purpose string, parts ...string) []byte {
	m := hmac.New(sha256.New, derive(k.master, "ember/mac/"+purpose))
	for _, p := range parts {
		fmt.Fprintf(m, "%d:", len(p))
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

// Verify reports, in constant time, whether mac is MAC(purpose, parts...).
func (k *Keyring) Verify(mac []byte, purpose string, parts ...string) bool {
	return hmac.Equal(mac, k.MAC(purpose, parts...))
}

package sigv4

import (
	"bytes"
	"testing"
)

// The memoised signing key is the derived one, and a secret's key never
// answers for another secret with the same scope.
func TestSigningKeyMemo(t *testing.T) {
	a := signingKey("secret-a", "20261123", "local", "lambda")
	if !bytes.Equal(a, deriveKey("secret-a", "20261123", "local", "lambda")) {
		t.Fatal("memoised key differs from the derived one")
	}
	if !bytes.Equal(signingKey("secret-a", "20261123", "local", "lambda"), a) {
		t.Fatal("second lookup differs")
	}
	for _, k := range [][]byte{
		signingKey("secret-b", "20261123", "local", "lambda"),
		signingKey("secret-a", "20261124", "local", "lambda"),
		signingKey("secret-a", "20261123", "other", "lambda"),
		signingKey("secret-a", "20261123", "local", "ember"),
	} {
		if bytes.Equal(k, a) {
			t.Fatal("a different secret or scope got the same key")
		}
	}
}

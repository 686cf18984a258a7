package secret

import (
	"regexp"
	"testing"
)

func TestToken(t *testing.T) {
	seen := map[string]bool{}
	re := regexp.MustCompile(`^[A-Z2-7]{43}$`)
	for range 100 {
		tok := Token()
		if !re.MatchString(tok) {
			t.Fatalf("Token() = %q, want 43 base32 characters", tok)
		}
		if seen[tok] {
			t.Fatalf("Token() repeated %q", tok)
		}
		seen[tok] = true
	}
}

func TestMAC(t *testing.T) {
	a := NewMAC([32]byte{1})
	b := NewMAC([32]byte{2})
	if a.Hash("x") == b.Hash("x") {
		t.Error("hashes under different keys are equal")
	}
	if a.Hash("x") == a.Hash("y") {
		t.Error("hashes of different values are equal")
	}
	if !a.Equal(a.Hash("x"), "x") || a.Equal(a.Hash("x"), "y") {
		t.Error("Equal does not match Hash")
	}
}

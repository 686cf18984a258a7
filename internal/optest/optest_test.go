package optest

import (
	"encoding/hex"
	"testing"
)

// TestTOTP pins the independent authenticator to RFC 6238's SHA-1 test
// vectors (the last 6 of their 8 digits).
func TestTOTP(t *testing.T) {
	seed, _ := hex.DecodeString("3132333435363738393031323334353637383930")
	tests := []struct {
		unix int64
		want string
	}{
		{59, "287082"},
		{1111111109, "081804"},
		{1111111111, "050471"},
		{1234567890, "005924"},
		{2000000000, "279037"},
		{20000000000, "353130"},
	}
	for _, tc := range tests {
		if got := TOTP(seed, tc.unix/30); got != tc.want {
			t.Errorf("TOTP(seed, %d/30) = %s, want %s", tc.unix, got, tc.want)
		}
	}
}

package password

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// ErrMalformedHash means a stored hash is not an argon2id PHC string this
// package can verify. It points at corrupt or foreign data in storage, never
// at a wrong password.
var ErrMalformedHash = errors.New("malformed password hash")

// Limits on parameters read back from a stored hash. They are far above
// anything this package writes and exist so that a corrupted or planted row
// cannot make one verification allocate gigabytes or run for minutes.
const (
	maxMemory  = 1 << 22 // KiB, 4 GiB
	maxTime    = 64
	minSaltLen = 8
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 64
)

var b64 = base64.RawStdEncoding.Strict()

// phcHash is a decoded "$argon2id$v=19$m=M,t=T,p=P$salt$key" string.
type phcHash struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

func (h phcHash) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, h.memory, h.time, h.threads,
		b64.EncodeToString(h.salt), b64.EncodeToString(h.key))
}

// parsePHC decodes s strictly: the exact field order this package writes,
// decimal parameters without signs or padding, unpadded base64.
func parsePHC(s string) (phcHash, error) {
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != "v="+strconv.Itoa(argon2.Version) {
		return phcHash{}, ErrMalformedHash
	}
	ps := strings.Split(f[3], ",")
	if len(ps) != 3 {
		return phcHash{}, ErrMalformedHash
	}
	m, okM := param(ps[0], "m=", maxMemory)
	t, okT := param(ps[1], "t=", maxTime)
	p, okP := param(ps[2], "p=", 255)
	if !okM || !okT || !okP || t < 1 || p < 1 || m < 8*p {
		return phcHash{}, ErrMalformedHash
	}
	salt, err := b64.DecodeString(f[4])
	if err != nil || len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return phcHash{}, ErrMalformedHash
	}
	key, err := b64.DecodeString(f[5])
	if err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return phcHash{}, ErrMalformedHash
	}
	return phcHash{memory: m, time: t, threads: uint8(p), salt: salt, key: key}, nil
}

// param parses "name=digits" with a value at most limit.
func param(s, prefix string, limit uint32) (uint32, bool) {
	v, ok := strings.CutPrefix(s, prefix)
	if !ok || v == "" || len(v) > 10 || (len(v) > 1 && v[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n > uint64(limit) {
		return 0, false
	}
	return uint32(n), true
}

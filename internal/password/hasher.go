package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/crypto/argon2"
)

// Defaults and floors of the argon2id cost (OWASP's argon2id baseline). A
// Params value below a floor is raised to it: configuration can make hashing
// dearer, never cheaper. Values above what Verify accepts back from a stored
// hash (4 GiB, 64 passes) are lowered to that ceiling.
const (
	DefaultMemory       = 19 * 1024 // KiB
	MinMemory           = 19 * 1024 // KiB
	DefaultTime         = 2
	MinTime             = 2
	DefaultThreads      = 1
	DefaultQueueTimeout = 5 * time.Second

	saltLen = 16
	keyLen  = 32
)

// ErrBusy means no hashing worker became free within the queue timeout.
// Callers answer 503 with Retry-After; it says nothing about the password.
var ErrBusy = errors.New("password hasher busy")

// ErrTooLong is returned by Hash for a password longer than MaxLength runes
// after normalisation. Policy.Check rejects such passwords first; Hash
// refuses them too because Verify would never accept them.
var ErrTooLong = errors.New("password too long")

// Params sets the argon2id cost and the size of the hashing pool. Zero
// fields take their defaults.
type Params struct {
	// Memory is the argon2id memory in KiB (default and minimum 19 MiB).
	Memory uint32
	// Time is the number of argon2id passes (default and minimum 2).
	Time uint32
	// Threads is the argon2id parallelism (default 1).
	Threads uint8
	// Workers is how many hashes may run at once (default GOMAXPROCS). Peak
	// hashing memory is Workers × Memory.
	Workers int
	// QueueTimeout is how long a call waits for a free worker before
	// returning ErrBusy (default 5 s).
	QueueTimeout time.Duration
}

func (p Params) withDefaults() Params {
	p.Memory = min(max(p.Memory, MinMemory), maxMemory)
	p.Time = min(max(p.Time, MinTime), maxTime)
	if p.Threads == 0 {
		p.Threads = DefaultThreads
	}
	if p.Workers <= 0 {
		p.Workers = runtime.GOMAXPROCS(0)
	}
	if p.QueueTimeout <= 0 {
		p.QueueTimeout = DefaultQueueTimeout
	}
	return p
}

// Hasher hashes and verifies passwords in a bounded pool. It is safe for
// concurrent use; create one per process and share it.
type Hasher struct {
	p   Params
	sem chan struct{}

	// dummy is the hash Verify checks against when there is no stored hash,
	// so that an unknown account costs the same work as a known one.
	dummy phcHash

	// inWorker, when set by tests, runs the work while a worker slot is
	// held, so tests can observe and hold workers.
	inWorker func(work func())
}

// NewHasher returns a Hasher with p's defaults and floors applied.
func NewHasher(p Params) *Hasher {
	p = p.withDefaults()
	h := &Hasher{p: p, sem: make(chan struct{}, p.Workers)}
	h.dummy = phcHash{
		memory:  p.Memory,
		time:    p.Time,
		threads: p.Threads,
		salt:    make([]byte, saltLen),
		key:     make([]byte, keyLen),
	}
	// crypto/rand.Read never fails (Go 1.24+: it aborts the process instead).
	rand.Read(h.dummy.salt)
	rand.Read(h.dummy.key)
	return h
}

// Params returns the effective parameters, after defaults and floors.
func (h *Hasher) Params() Params { return h.p }

// Hash returns the argon2id PHC string of Normalize(password) with a fresh
// 16-byte salt, for example
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// It waits for a worker as described on Hasher and returns ErrBusy or the
// context's error when none is free in time.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	pw, ok := normalizeBounded(password)
	if !ok {
		return "", ErrTooLong
	}
	ph := phcHash{
		memory:  h.p.Memory,
		time:    h.p.Time,
		threads: h.p.Threads,
		salt:    make([]byte, saltLen),
	}
	rand.Read(ph.salt)
	if err := h.run(ctx, func() {
		ph.key = argon2.IDKey([]byte(pw), ph.salt, ph.time, ph.memory, ph.threads, keyLen)
	}); err != nil {
		return "", err
	}
	return ph.String(), nil
}

// Verify reports whether password matches the PHC string phc, comparing in
// constant time with the parameters stored in phc.
//
// An empty phc (unknown NIP, or an account without a password yet) costs the
// same argon2id work against a dummy hash and reports false, so response
// times do not tell which accounts exist or have a password.
//
// A password longer than MaxLength runes after normalisation reports false at
// once, without hashing: no such password can ever have been set, and the
// shortcut reveals nothing about the account because the length is the
// caller's own input. It bounds the CPU any request can cost.
//
// A phc that is not a valid argon2id PHC string returns an error wrapping
// ErrMalformedHash. ErrBusy and context errors are returned as for Hash.
func (h *Hasher) Verify(ctx context.Context, phc, password string) (bool, error) {
	want := h.dummy
	if phc != "" {
		var err error
		if want, err = parsePHC(phc); err != nil {
			return false, fmt.Errorf("verify password: %w", err)
		}
	}
	pw, ok := normalizeBounded(password)
	if !ok {
		return false, nil
	}
	var match bool
	if err := h.run(ctx, func() {
		got := argon2.IDKey([]byte(pw), want.salt, want.time, want.memory, want.threads, uint32(len(want.key)))
		match = subtle.ConstantTimeCompare(got, want.key) == 1
	}); err != nil {
		return false, err
	}
	return match && phc != "", nil
}

// NeedsRehash reports whether phc was made with other parameters than the
// Hasher's (or is malformed), so that the caller should store a new hash
// after the next successful Verify.
func (h *Hasher) NeedsRehash(phc string) bool {
	ph, err := parsePHC(phc)
	if err != nil {
		return true
	}
	return ph.memory != h.p.Memory || ph.time != h.p.Time || ph.threads != h.p.Threads ||
		len(ph.salt) != saltLen || len(ph.key) != keyLen
}

// run executes work on a pool slot, waiting at most QueueTimeout for one.
func (h *Hasher) run(ctx context.Context, work func()) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("wait for password worker: %w", err)
	}
	select {
	case h.sem <- struct{}{}:
	default:
		t := time.NewTimer(h.p.QueueTimeout)
		defer t.Stop()
		select {
		case h.sem <- struct{}{}:
		case <-t.C:
			return ErrBusy
		case <-ctx.Done():
			return fmt.Errorf("wait for password worker: %w", ctx.Err())
		}
	}
	defer func() { <-h.sem }()
	if h.inWorker != nil {
		h.inWorker(work)
		return nil
	}
	work()
	return nil
}

package password

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

var phcPattern = regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashVerify(t *testing.T) {
	h := NewHasher(Params{})
	ctx := t.Context()
	const pw = "gunung-API-7 meletus"
	phc, err := h.Hash(ctx, pw)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	if !phcPattern.MatchString(phc) {
		t.Errorf("Hash() = %q, want a PHC string matching %s", phc, phcPattern)
	}
	if strings.Contains(phc, pw) {
		t.Errorf("Hash() contains the password")
	}
	if h.NeedsRehash(phc) {
		t.Errorf("NeedsRehash(fresh hash) = true, want false")
	}
	tests := []struct {
		name, password string
		want           bool
	}{
		{"same", pw, true},
		{"other", "gunung-API-8 meletus", false},
		{"case differs", "Gunung-API-7 meletus", false},
		{"trailing space", pw + " ", false},
		{"empty", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := h.Verify(ctx, phc, tc.password)
			if err != nil || got != tc.want {
				t.Errorf("Verify(hash, %q) = %v, %v, want %v, nil", tc.password, got, err, tc.want)
			}
		})
	}
	again, err := h.Hash(ctx, pw)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	if again == phc {
		t.Errorf("Hash() twice gave the same string, want a fresh salt each time")
	}
}

// C6: the same string is normalised identically at set and at login, and
// nothing is truncated.
func TestHashVerify_NormalisedNotTruncated_C6(t *testing.T) {
	h := NewHasher(Params{})
	ctx := t.Context()
	long := longPassword(MaxLength)
	tests := []struct {
		name          string
		set, login    string
		wantLoginOK   bool
		wantPrefixBad string // a near-miss that must fail
	}{
		{"full-width at set", "Ｋｕｄａ Ｌｕｍｐｉｎｇ ｍｅｎａｒｉ", "Kuda Lumping menari", true, ""},
		{"decomposed at login", "caf\u00e9 di Ubud pagi", "cafe\u0301 di Ubud pagi", true, ""},
		{"128 runes", long, long, true, long[:MaxLength-1]},
		{"128 runes, last differs", long, long[:MaxLength-1] + "!", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			phc, err := h.Hash(ctx, tc.set)
			if err != nil {
				t.Fatalf("Hash: %v", err)
			}
			ok, err := h.Verify(ctx, phc, tc.login)
			if err != nil || ok != tc.wantLoginOK {
				t.Errorf("Verify(Hash(%.20q), %.20q) = %v, %v, want %v, nil", tc.set, tc.login, ok, err, tc.wantLoginOK)
			}
			if tc.wantPrefixBad != "" {
				if ok, err := h.Verify(ctx, phc, tc.wantPrefixBad); ok || err != nil {
					t.Errorf("Verify(hash of 128 runes, first 127) = %v, %v, want false, nil", ok, err)
				}
			}
		})
	}
}

// holdWorkers returns a Hasher whose workers, once entered, block until the
// returned release is called; entered receives one value per entry.
func holdWorkers(p Params) (h *Hasher, entered <-chan struct{}, release func()) {
	h = NewHasher(p)
	in := make(chan struct{}, 16)
	gate := make(chan struct{})
	h.inWorker = func(work func()) {
		in <- struct{}{}
		<-gate
		work()
	}
	var once sync.Once
	return h, in, func() { once.Do(func() { close(gate) }) }
}

// G4: with the only worker held, further calls get ErrBusy after the queue
// timeout, or the context's error, and never run; once the worker is free,
// work proceeds.
func TestHasher_PoolBound_G4(t *testing.T) {
	h, entered, release := holdWorkers(Params{Workers: 1, QueueTimeout: time.Millisecond})
	defer release()
	ctx := t.Context()

	firstErr := make(chan error, 1)
	go func() {
		_, err := h.Hash(ctx, "gunung-API-7 meletus")
		firstErr <- err
	}()
	<-entered // the only worker is now busy

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			if i%2 == 0 {
				_, err := h.Hash(ctx, "gunung-API-7 meletus")
				errs <- err
			} else {
				_, err := h.Verify(ctx, "", "gunung-API-7 meletus")
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrBusy) {
			t.Errorf("call while the worker is held = %v, want ErrBusy", err)
		}
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := h.Hash(cancelled, "gunung-API-7 meletus"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash(cancelled ctx) = %v, want context.Canceled", err)
	}

	release()
	if err := <-firstErr; err != nil {
		t.Errorf("Hash holding the worker = %v, want nil", err)
	}
	if len(entered) != 0 {
		t.Errorf("%d calls reached a worker while it was held, want 0", len(entered))
	}
}

// G4: a caller waiting for a worker gives up when its context ends.
func TestHasher_WaitEndsWithContext_G4(t *testing.T) {
	h, entered, release := holdWorkers(Params{Workers: 1, QueueTimeout: time.Hour})
	defer release()
	go h.Hash(t.Context(), "gunung-API-7 meletus")
	<-entered

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := h.Verify(ctx, "", "gunung-API-7 meletus")
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Verify after cancel while queued = %v, want context.Canceled", err)
	}
}

// G4: no more than Workers hashes run at once, and queued calls are served.
func TestHasher_ConcurrencyAtMostWorkers_G4(t *testing.T) {
	h := NewHasher(Params{Workers: 2, QueueTimeout: time.Hour})
	var active, peak atomic.Int32
	h.inWorker = func(work func()) {
		n := active.Add(1)
		defer active.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		work()
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := h.Hash(t.Context(), "gunung-API-7 meletus"); err != nil {
				t.Errorf("Hash: %v", err)
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p > 2 {
		t.Errorf("peak concurrent hashes = %d, want at most 2", p)
	}
}

// C6, F2: passwords over MaxLength are refused before any hashing: even with
// every worker held they return at once, without ErrBusy.
func TestHasher_TooLongRefusedBeforeHashing_C6(t *testing.T) {
	h, entered, release := holdWorkers(Params{Workers: 1, QueueTimeout: time.Millisecond})
	defer release()
	go h.Hash(t.Context(), "gunung-API-7 meletus")
	<-entered

	phc := (phcHash{memory: 64, time: 1, threads: 1, salt: make([]byte, 16), key: make([]byte, 32)}).String()
	for _, pw := range []string{longPassword(MaxLength + 1), strings.Repeat("é", 10<<20)} {
		if _, err := h.Hash(t.Context(), pw); !errors.Is(err, ErrTooLong) {
			t.Errorf("Hash(%d bytes) = %v, want ErrTooLong", len(pw), err)
		}
		for _, stored := range []string{phc, ""} {
			if ok, err := h.Verify(t.Context(), stored, pw); ok || err != nil {
				t.Errorf("Verify(%q, %d bytes) = %v, %v, want false, nil", stored, len(pw), ok, err)
			}
		}
	}
}

// G5, C8: with no stored hash (unknown NIP or no password yet) Verify does
// one argon2id computation like a real check and reports false, for any
// password including the empty one.
func TestVerify_UnknownDoesDummyWork_G5(t *testing.T) {
	h := NewHasher(Params{})
	var calls atomic.Int32
	h.inWorker = func(work func()) { calls.Add(1); work() }
	for _, pw := range []string{"", "gunung-API-7 meletus", "198609262015051001"} {
		calls.Store(0)
		ok, err := h.Verify(t.Context(), "", pw)
		if ok || err != nil {
			t.Errorf("Verify(\"\", %q) = %v, %v, want false, nil", pw, ok, err)
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("Verify(\"\", %q) used a worker %d times, want 1 (the dummy hash)", pw, n)
		}
	}
	if h.dummy.memory != h.p.Memory || h.dummy.time != h.p.Time || h.dummy.threads != h.p.Threads {
		t.Errorf("dummy hash params = %d/%d/%d, want the hasher's %d/%d/%d",
			h.dummy.memory, h.dummy.time, h.dummy.threads, h.p.Memory, h.p.Time, h.p.Threads)
	}
}

func TestVerify_Malformed(t *testing.T) {
	h := NewHasher(Params{})
	h.inWorker = func(func()) { t.Error("a malformed hash reached a worker") }
	good := (phcHash{memory: 19456, time: 2, threads: 1, salt: make([]byte, 16), key: make([]byte, 32)}).String()
	tests := []struct{ name, phc string }{
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", strings.Replace(good, "argon2id", "argon2i", 1)},
		{"version 16", strings.Replace(good, "v=19", "v=16", 1)},
		{"missing field", good[:strings.LastIndex(good, "$")]},
		{"extra field", good + "$x"},
		{"reordered params", strings.Replace(good, "m=19456,t=2,p=1", "t=2,m=19456,p=1", 1)},
		{"signed param", strings.Replace(good, "t=2", "t=+2", 1)},
		{"leading zero", strings.Replace(good, "t=2", "t=02", 1)},
		{"zero time", strings.Replace(good, "t=2", "t=0", 1)},
		{"huge memory", strings.Replace(good, "m=19456", "m=4294967295", 1)},
		{"huge time", strings.Replace(good, "t=2", "t=1000000", 1)},
		{"zero threads", strings.Replace(good, "p=1", "p=0", 1)},
		{"padded base64", good + "="},
		{"short key", strings.Replace(good, good[strings.LastIndex(good, "$")+1:], "AAAA", 1)},
		{"not base64", strings.Replace(good, good[strings.LastIndex(good, "$")+1:], strings.Repeat("*", 43), 1)},
		{"garbage", "hunter2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := h.Verify(t.Context(), tc.phc, "gunung-API-7 meletus")
			if ok || !errors.Is(err, ErrMalformedHash) {
				t.Errorf("Verify(%q) = %v, %v, want false, ErrMalformedHash", tc.phc, ok, err)
			}
			if !h.NeedsRehash(tc.phc) {
				t.Errorf("NeedsRehash(%q) = false, want true", tc.phc)
			}
		})
	}
}

// Parameters are read from the stored hash, so hashes made with other
// settings still verify, and NeedsRehash asks for an upgrade.
func TestVerify_ParamsFromHash(t *testing.T) {
	h := NewHasher(Params{})
	const pw = "gunung-API-7 meletus"
	salt := []byte("0123456789abcdef")
	old := phcHash{memory: 64, time: 1, threads: 1, salt: salt,
		key: argon2.IDKey([]byte(pw), salt, 1, 64, 1, 32)}
	ok, err := h.Verify(t.Context(), old.String(), pw)
	if !ok || err != nil {
		t.Errorf("Verify(hash with m=64,t=1) = %v, %v, want true, nil", ok, err)
	}
	if !h.NeedsRehash(old.String()) {
		t.Errorf("NeedsRehash(hash with m=64,t=1) = false, want true")
	}
}

func TestNewHasher_DefaultsAndFloors(t *testing.T) {
	tests := []struct {
		name string
		in   Params
		want Params
	}{
		{"zero", Params{Workers: 3}, Params{Memory: 19456, Time: 2, Threads: 1, Workers: 3, QueueTimeout: 5 * time.Second}},
		{"below floors", Params{Memory: 1024, Time: 1, Workers: 1, QueueTimeout: time.Second},
			Params{Memory: 19456, Time: 2, Threads: 1, Workers: 1, QueueTimeout: time.Second}},
		{"above floors", Params{Memory: 65536, Time: 3, Threads: 2, Workers: 1, QueueTimeout: time.Second},
			Params{Memory: 65536, Time: 3, Threads: 2, Workers: 1, QueueTimeout: time.Second}},
		{"above ceilings", Params{Memory: 1 << 30, Time: 1000, Workers: 1},
			Params{Memory: maxMemory, Time: maxTime, Threads: 1, Workers: 1, QueueTimeout: 5 * time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NewHasher(tc.in).Params(); got != tc.want {
				t.Errorf("NewHasher(%+v).Params() = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
	if w := NewHasher(Params{}).Params().Workers; w < 1 {
		t.Errorf("default Workers = %d, want GOMAXPROCS (>= 1)", w)
	}
}

func BenchmarkVerify(b *testing.B) {
	h := NewHasher(Params{})
	const pw = "gunung-API-7 meletus"
	phc, err := h.Hash(b.Context(), pw)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := h.Verify(b.Context(), phc, "gunung-API-8 meletus"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyUnknown(b *testing.B) {
	h := NewHasher(Params{})
	for b.Loop() {
		if _, err := h.Verify(b.Context(), "", "gunung-API-8 meletus"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyParallel is the machine's argon2id limit: one
// verification per worker at a time, every core busy. The login path's
// target is a share of this figure.
func BenchmarkVerifyParallel(b *testing.B) {
	h := NewHasher(Params{QueueTimeout: time.Minute})
	const pw = "gunung-API-7 meletus"
	phc, err := h.Hash(b.Context(), pw)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.Verify(context.Background(), phc, "gunung-API-8 meletus"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
}

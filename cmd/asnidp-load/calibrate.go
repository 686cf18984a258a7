package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/asnidp/asnidp/internal/password"
)

// limits are this machine's ceilings for the two costs a sign-in cannot
// avoid, measured on every core at once just before the load, so a run's
// figures read as a share of what the machine can do at all.
type limits struct {
	Cores int `json:"cores"`
	// Argon2idPerSec is password hashes per second with the server's
	// package and default cost (one per sign-in).
	Argon2idPerSec float64 `json:"argon2id_per_s"`
	Argon2idParams string  `json:"argon2id_params"`
	// RS256PerSec is 2048-bit RSA JWT signatures per second (a sign-in
	// signs two ID tokens: the code exchange's and the refresh's).
	RS256PerSec float64 `json:"rs256_per_s"`
	// The CPU time of one hash and one signature. Unlike the rates they do
	// not depend on what else the machine runs at the time, so shares
	// taken against them hold on a shared machine.
	Argon2idCPUMs float64 `json:"argon2id_cpu_ms"`
	RS256CPUMs    float64 `json:"rs256_cpu_ms"`
}

func calibrate(ctx context.Context, d time.Duration) (limits, error) {
	l := limits{Cores: runtime.GOMAXPROCS(0)}
	h := password.NewHasher(password.Params{QueueTimeout: time.Minute})
	p := h.Params()
	l.Argon2idParams = fmt.Sprintf("m=%d KiB, t=%d, p=%d", p.Memory, p.Time, p.Threads)
	cpu0 := toolCPU()
	n, el, err := parallel(ctx, d, func() error {
		_, err := h.Hash(ctx, "kalibrasi mesin ini")
		return err
	})
	if err != nil {
		return l, fmt.Errorf("argon2id calibration: %w", err)
	}
	l.Argon2idPerSec = float64(n) / el.Seconds()
	l.Argon2idCPUMs = 1000 * (toolCPU() - cpu0) / float64(n)

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return l, fmt.Errorf("RS256 calibration key: %w", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return l, fmt.Errorf("RS256 calibration signer: %w", err)
	}
	payload := []byte(`{"iss":"https://asn.example","sub":"5b0c6f1e","aud":"app","exp":1772352000}`)
	cpu0 = toolCPU()
	n, el, err = parallel(ctx, d, func() error {
		jws, err := signer.Sign(payload)
		if err == nil {
			_, err = jws.CompactSerialize()
		}
		return err
	})
	if err != nil {
		return l, fmt.Errorf("RS256 calibration: %w", err)
	}
	l.RS256PerSec = float64(n) / el.Seconds()
	l.RS256CPUMs = 1000 * (toolCPU() - cpu0) / float64(n)
	return l, nil
}

// parallel runs f on every core until d has passed and returns how many
// calls finished and in how long.
func parallel(ctx context.Context, d time.Duration, f func() error) (int64, time.Duration, error) {
	var n atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	start := time.Now()
	stop := start.Add(d)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for time.Now().Before(stop) && ctx.Err() == nil {
				if err := f(); err != nil {
					once.Do(func() { first = err })
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return n.Load(), time.Since(start), first
}

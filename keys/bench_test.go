package keys

import (
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/asnidp/asnidp/internal/cputime"
)

// BenchmarkSign is the signing cost of one token: picking the key and an
// RS256 signature over a small JWT ("signer"), against the same signature
// with a key already in hand ("bare key"). The two should match: key
// loading and unsealing must not happen per token.
func BenchmarkSign(b *testing.B) {
	c := newClock()
	m := newManager(b, newStore(b), newSealer(b, newMasterKey(b)), testOptions(b, c))
	k, err := m.Signer(b.Context(), jose.RS256)
	if err != nil {
		b.Fatal(err)
	}
	payload := `{"iss":"https://asn.example","sub":"5b0c6f1e","aud":"app","exp":1772352000}`
	b.Run("signer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sign(b, m, payload)
		}
	})
	b.Run("bare key", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			signWith(b, k, payload)
		}
	})
}

// BenchmarkSignParallel is the signing limit of the whole machine: RS256
// signatures over a small JWT from every core at once, as the token
// endpoint's requests sign. Token path figures are compared with it,
// measured in the same run.
func BenchmarkSignParallel(b *testing.B) {
	for _, alg := range Algorithms {
		b.Run(string(alg), func(b *testing.B) {
			c := newClock()
			m := newManager(b, newStore(b), newSealer(b, newMasterKey(b)), Options{Now: c.Now, Logger: testLogger(b)})
			k, err := m.Signer(b.Context(), alg)
			if err != nil {
				b.Fatal(err)
			}
			payload := `{"iss":"https://asn.example","sub":"5b0c6f1e","aud":"app","exp":1772352000}`
			b.ResetTimer()
			cpu := cputime.Process()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					signWith(b, k, payload)
				}
			})
			b.StopTimer()
			cputime.Report(b, cpu)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sig/s")
		})
	}
}

// BenchmarkSigner is the key lookup alone, as every token request does it,
// from parallel requests.
func BenchmarkSigner(b *testing.B) {
	c := newClock()
	m := newManager(b, newStore(b), newSealer(b, newMasterKey(b)), testOptions(b, c))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Signer(b.Context(), jose.RS256); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkJWKS is the JWKS endpoint's share: fetching the pre-rendered
// document.
func BenchmarkJWKS(b *testing.B) {
	c := newClock()
	m := newManager(b, newStore(b), newSealer(b, newMasterKey(b)), testOptions(b, c))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.JWKS(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package confirm

import (
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asnidp/asnidp/storage/sqlstore"
	"github.com/asnidp/asnidp/storage/sqlstore/sqlstoretest"
)

var t0 = time.Date(2025, time.June, 2, 8, 0, 0, 0, time.UTC)

var key = [32]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}

// clock is a test's time; tests move it between calls, never during one.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time          { return c.t }
func (c *clock) Advance(d time.Duration) { c.t = c.t.Add(d) }

var unlock = Binding{OperatorSub: "u-agency-a", Action: "unlock", Target: "199001012022032001", Reason: "pegawai lupa password, telepon 08:15"}

func newConfirmer(t *testing.T, store Store, clk *clock) *Confirmer {
	t.Helper()
	return New(key, store, Options{Now: clk.Now})
}

func issue(t *testing.T, c *Confirmer, b Binding) string {
	t.Helper()
	tok, err := c.Issue(b)
	if err != nil {
		t.Fatalf("Issue(%+v) = %v", b, err)
	}
	return tok
}

func TestRedeem_OnceThenReplayed_J5(t *testing.T) {
	clk := &clock{t: t0}
	c := newConfirmer(t, sqlstoretest.New(t), clk)
	tok := issue(t, c, unlock)
	if err := c.Redeem(t.Context(), tok, unlock); err != nil {
		t.Fatalf("Redeem = %v, want nil", err)
	}
	clk.Advance(time.Second)
	if err := c.Redeem(t.Context(), tok, unlock); !errors.Is(err, ErrReplayed) {
		t.Errorf("second Redeem = %v, want ErrReplayed", err)
	}
	if again := issue(t, c, unlock); again == tok {
		t.Error("two tokens for one binding are equal, want a fresh random ID each")
	}
}

// J5: a token confirms exactly what was stated. Another operator, action,
// target or reason (one space more), characters shifted between fields, or
// another key: refused as invalid, and such a try does not use the token
// up for its rightful redemption.
func TestRedeem_J5_OtherBindingRefused(t *testing.T) {
	clk := &clock{t: t0}
	store := sqlstoretest.New(t)
	c := newConfirmer(t, store, clk)
	tok := issue(t, c, unlock)
	other := func(change func(b *Binding)) Binding {
		b := unlock
		change(&b)
		return b
	}
	tests := []struct {
		name string
		c    *Confirmer
		b    Binding
	}{
		{"other operator", c, other(func(b *Binding) { b.OperatorSub = "u-agency-b" })},
		{"other action", c, other(func(b *Binding) { b.Action = "reset_mfa" })},
		{"other target", c, other(func(b *Binding) { b.Target = "199001012022032002" })},
		{"other reason", c, other(func(b *Binding) { b.Reason = "alasan lain" })},
		{"reason with a space more", c, other(func(b *Binding) { b.Reason += " " })},
		{"empty reason", c, other(func(b *Binding) { b.Reason = "" })},
		{"other key", New([32]byte{9}, store, Options{Now: clk.Now}), unlock},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.c.Redeem(t.Context(), tok, tc.b); !errors.Is(err, ErrInvalid) {
				t.Errorf("Redeem(%+v) = %v, want ErrInvalid", tc.b, err)
			}
		})
	}

	// Length-prefixed fields: "ab"+"c" is not "a"+"bc".
	shifted := Binding{OperatorSub: "ab", Action: "c", Target: "199001012022032001", Reason: "r"}
	stok := issue(t, c, shifted)
	if err := c.Redeem(t.Context(), stok, Binding{OperatorSub: "a", Action: "bc", Target: shifted.Target, Reason: "r"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Redeem with characters shifted between fields = %v, want ErrInvalid", err)
	}

	if err := c.Redeem(t.Context(), tok, unlock); err != nil {
		t.Errorf("Redeem by the rightful binding after the refused tries = %v, want nil", err)
	}
}

// J5: any change to the token (a character of its ID, expiry or MAC, a
// later expiry written in, truncation, extra parts) is refused as invalid
// and leaves the real token usable.
func TestRedeem_J5_TamperRefused(t *testing.T) {
	clk := &clock{t: t0}
	c := newConfirmer(t, sqlstoretest.New(t), clk)
	tok := issue(t, c, unlock)
	parts := strings.Split(tok, ".")
	tampered := []string{
		"", "c1", tok + ".x", tok[:len(tok)-1], "c2." + strings.Join(parts[1:], "."),
		strings.Join([]string{parts[0], parts[1], "9999999999", parts[3]}, "."),    // a later expiry
		strings.Join([]string{parts[0], parts[1], "+" + parts[2], parts[3]}, "."),  // same number, other spelling
		strings.Join([]string{parts[0], parts[1], "0" + parts[2], parts[3]}, "."),  // same number, other spelling
		strings.Join([]string{parts[0], parts[1] + "AA", parts[2], parts[3]}, "."), // a longer ID
		strings.Join([]string{parts[0], parts[1], parts[2], parts[3] + "="}, "."),  // padding
		strings.Join([]string{parts[0], parts[1], parts[2], strings.ToUpper(parts[3])}, "."),
	}
	for i := range len(tok) {
		if tok[i] == '.' {
			continue
		}
		flip := byte('A')
		if tok[i] == 'A' {
			flip = 'B'
		}
		tampered = append(tampered, tok[:i]+string(flip)+tok[i+1:])
	}
	for _, bad := range tampered {
		if bad == tok {
			continue
		}
		if err := c.Redeem(t.Context(), bad, unlock); !errors.Is(err, ErrInvalid) {
			t.Errorf("Redeem(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if err := c.Redeem(t.Context(), tok, unlock); err != nil {
		t.Errorf("Redeem of the real token after the tampered ones = %v, want nil", err)
	}
}

// J5: a token is good until its TTL has passed, not a second longer, and
// an expired token is refused before it is recorded.
func TestRedeem_J5_Expiry(t *testing.T) {
	clk := &clock{t: t0}
	c := New(key, sqlstoretest.New(t), Options{Now: clk.Now, TTL: 2 * time.Minute})
	late := issue(t, c, unlock)
	onTime := issue(t, c, unlock)
	clk.Advance(2*time.Minute - time.Second)
	if err := c.Redeem(t.Context(), onTime, unlock); err != nil {
		t.Errorf("Redeem 1 s before expiry = %v, want nil", err)
	}
	clk.Advance(time.Second)
	if err := c.Redeem(t.Context(), late, unlock); !errors.Is(err, ErrExpired) {
		t.Errorf("Redeem at expiry = %v, want ErrExpired", err)
	}
	clk.Advance(time.Hour)
	if err := c.Redeem(t.Context(), late, unlock); !errors.Is(err, ErrExpired) {
		t.Errorf("Redeem an hour after expiry = %v, want ErrExpired", err)
	}

	d := New(key, sqlstoretest.New(t), Options{Now: clk.Now})
	if d.ttl != DefaultTTL || DefaultTTL != 5*time.Minute {
		t.Errorf("default TTL = %s, want 5m", d.ttl)
	}
}

// J5: two processes on one database (two stores on one SQLite file, or
// one PostgreSQL schema) redeeming one token at once: exactly one wins,
// and a token used through one is a replay through the other.
func TestRedeem_J5_ReplayAcrossProcesses(t *testing.T) {
	engines := map[string]func(t *testing.T) (a, b *sqlstore.Store){
		"sqlite": func(t *testing.T) (a, b *sqlstore.Store) {
			path := filepath.Join(t.TempDir(), "asnidp.db")
			return sqlstoretest.OpenSQLite(t, path), sqlstoretest.OpenSQLite(t, path)
		},
		"postgres": func(t *testing.T) (a, b *sqlstore.Store) {
			dsn := sqlstoretest.NewPostgresSchema(t)
			return sqlstoretest.OpenPostgres(t, dsn), sqlstoretest.OpenPostgres(t, dsn)
		},
	}
	for name, open := range engines {
		t.Run(name, func(t *testing.T) {
			clk := &clock{t: t0}
			sa, sb := open(t)
			a, b := newConfirmer(t, sa, clk), newConfirmer(t, sb, clk)

			tok := issue(t, a, unlock)
			if err := b.Redeem(t.Context(), tok, unlock); err != nil {
				t.Fatalf("Redeem through the other process = %v, want nil", err)
			}
			if err := a.Redeem(t.Context(), tok, unlock); !errors.Is(err, ErrReplayed) {
				t.Errorf("Redeem through the issuing process after the other used it = %v, want ErrReplayed", err)
			}

			race := issue(t, a, unlock)
			const n = 8
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				c := a
				if i%2 == 1 {
					c = b
				}
				wg.Go(func() {
					<-start
					errs[i] = c.Redeem(t.Context(), race, unlock)
				})
			}
			close(start)
			wg.Wait()
			wins := 0
			for i, err := range errs {
				switch {
				case err == nil:
					wins++
				case !errors.Is(err, ErrReplayed):
					t.Errorf("Redeem %d = %v, want nil or ErrReplayed", i, err)
				}
			}
			if wins != 1 {
				t.Errorf("%d of %d concurrent redemptions won, want 1", wins, n)
			}
		})
	}
}

func TestIssue_NeedsEveryField(t *testing.T) {
	c := newConfirmer(t, sqlstoretest.New(t), &clock{t: t0})
	for _, b := range []Binding{
		{Action: "unlock", Target: "1", Reason: "r"},
		{OperatorSub: "s", Target: "1", Reason: "r"},
		{OperatorSub: "s", Action: "unlock", Reason: "r"},
		{OperatorSub: "s", Action: "unlock", Target: "1"},
		{OperatorSub: "s", Action: "unlock", Target: "1", Reason: " \t "},
	} {
		if tok, err := c.Issue(b); !errors.Is(err, ErrIncomplete) || tok != "" {
			t.Errorf("Issue(%+v) = %q, %v; want ErrIncomplete", b, tok, err)
		}
	}
}

// A store that cannot record the use refuses the confirmation: an action
// is never done on a token whose use was not recorded.
func TestRedeem_StoreFailureRefuses(t *testing.T) {
	store := sqlstoretest.New(t)
	c := newConfirmer(t, store, &clock{t: t0})
	tok := issue(t, c, unlock)
	store.Close()
	err := c.Redeem(t.Context(), tok, unlock)
	if err == nil || errors.Is(err, ErrInvalid) || errors.Is(err, ErrExpired) || errors.Is(err, ErrReplayed) {
		t.Errorf("Redeem on a closed store = %v, want a store error", err)
	}
}

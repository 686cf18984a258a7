package throttle_test

import (
	"testing"
	"time"

	"github.com/asnidp/asnidp/internal/throttle"
	"github.com/asnidp/asnidp/storage"
	"github.com/asnidp/asnidp/storage/sqlstore/sqlstoretest"
)

var ladder = throttle.Ladder{DelayAfter: 5, DelayStart: 30 * time.Second, DelayMax: 15 * time.Minute,
	LockAfter: 100, IPFailures: 200, IPWindow: time.Hour}

// B1: no delay before the 5th failure, then 30 s doubling up to 15 min.
func TestLadder_B1_Delay(t *testing.T) {
	tests := []struct {
		n    int
		want time.Duration
	}{
		{1, 0}, {4, 0}, {5, 30 * time.Second}, {6, time.Minute}, {7, 2 * time.Minute},
		{9, 8 * time.Minute}, {10, 15 * time.Minute}, {99, 15 * time.Minute},
	}
	for _, tc := range tests {
		if got := ladder.Delay(tc.n); got != tc.want {
			t.Errorf("Delay(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
}

// B1, B5: when a login needs a captcha, on the counters the login pages
// write, for known and unknown NIPs alike.
func TestLoginCaptchaNeeded_B1_B5(t *testing.T) {
	ctx := t.Context()
	s := sqlstoretest.New(t)
	now := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	known := &storage.User{ID: "u1", NIP: "198609262015051001", Name: "Siti", State: storage.StateActive, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateUser(ctx, known); err != nil {
		t.Fatal(err)
	}
	rule := throttle.CaptchaRule{Enabled: true, LoginAfter: 3, LoginIPAfter: 10, LoginGlobalPerHour: 50}
	need := func(nip, ip string) bool {
		t.Helper()
		got, err := throttle.LoginCaptchaNeeded(ctx, s, rule, ladder, nip, ip, now)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	bump := func(k throttle.Key, n int, window time.Duration) {
		for range n {
			if _, err := s.IncrementCounter(ctx, string(k), window, now); err != nil {
				t.Fatal(err)
			}
		}
	}
	if need(known.NIP, "10.0.0.1") || need("199001012020121001", "10.0.0.1") {
		t.Fatal("a captcha before any failure")
	}
	for range 3 {
		if _, err := s.RecordPasswordFailure(ctx, known.ID, time.Time{}, false, now); err != nil {
			t.Fatal(err)
		}
	}
	if !need(known.NIP, "10.0.0.1") {
		t.Error("no captcha after 3 failures of the account")
	}
	unknown := "199001012020121001"
	bump(throttle.LoginFailuresOfUnknownNIP(unknown), 3, ladder.DelayMax)
	if !need(unknown, "10.0.0.1") {
		t.Error("no captcha after 3 failures of an unknown NIP: it would tell unknown NIPs apart")
	}
	bump(throttle.LoginFailuresFromIP("10.0.0.2"), 10, ladder.IPWindow)
	if !need("", "10.0.0.2") || need("", "10.0.0.3") {
		t.Error("the IP rule: want a captcha for 10.0.0.2 only")
	}
	bump(throttle.LoginFailures, 50, time.Hour)
	if !need("", "10.0.0.3") {
		t.Error("no captcha for everyone after the hourly failures of all accounts")
	}
	rule.Enabled = false
	if need(known.NIP, "10.0.0.2") {
		t.Error("a captcha while captchas are off")
	}
}

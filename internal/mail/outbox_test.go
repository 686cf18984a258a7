package mail_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asnidp/asnidp/internal/mail"
	"github.com/asnidp/asnidp/internal/mail/mailtest"
)

// lockedBuffer is a log sink for many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newOutbox(t *testing.T, s mail.Sender, clock *fakeClock, logs *lockedBuffer, attempts int) *mail.Outbox {
	t.Helper()
	o := mail.NewOutbox(s, mail.OutboxOptions{
		QueueSize: 4, Workers: 1, Attempts: attempts, RetryDelay: time.Millisecond,
		AttemptTimeout: 10 * time.Second, ProbeInterval: time.Millisecond,
		Now: clock.Now, Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	t.Cleanup(o.Close)
	return o
}

// gaveUp collects GiveUp calls.
type gaveUp struct {
	ch chan error
}

func newGaveUp() *gaveUp { return &gaveUp{ch: make(chan error, 1)} }

func (g *gaveUp) fn(err error) { g.ch <- err }

func (g *gaveUp) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-g.ch:
		return err
	case <-t.Context().Done():
		t.Fatal("GiveUp never called")
		return nil
	}
}

// H5: a hanging server does not hold up Enqueue; the mail arrives once the
// server answers.
func TestOutbox_EnqueueNeverWaits_H5(t *testing.T) {
	srv := mailtest.Start(t)
	logs := &lockedBuffer{}
	o := newOutbox(t, newSMTP(t, srv), &fakeClock{t: time.Now()}, logs, 3)
	srv.Hang()
	if err := o.Enqueue(testMessage, mail.Delivery{}); err != nil {
		t.Fatalf("Enqueue while the server hangs = %v", err)
	}
	srv.Release()
	got, err := srv.Next(t.Context(), testMessage.To)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got.Text, "12345678") {
		t.Errorf("delivered text %q", got.Text)
	}
	if strings.Contains(logs.String(), "12345678") {
		t.Errorf("the outbox logged a mail body:\n%s", logs.String())
	}
}

// H5: temporary refusals are retried; the retries are bounded.
func TestOutbox_Retries_H5(t *testing.T) {
	srv := mailtest.Start(t)
	logs := &lockedBuffer{}
	o := newOutbox(t, newSMTP(t, srv), &fakeClock{t: time.Now()}, logs, 3)

	srv.FailTemporarily(2)
	if err := o.Enqueue(testMessage, mail.Delivery{}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Next(t.Context(), testMessage.To); err != nil {
		t.Fatal(err)
	}
	if got := srv.Attempts(); got != 3 {
		t.Errorf("server saw %d attempts, want 3 (two refusals, one delivery)", got)
	}

	srv.FailTemporarily(100)
	g := newGaveUp()
	if err := o.Enqueue(testMessage, mail.Delivery{GiveUp: g.fn}); err != nil {
		t.Fatal(err)
	}
	if err := g.wait(t); err == nil {
		t.Error("GiveUp got a nil error")
	}
	if got := srv.Attempts(); got != 3+3 {
		t.Errorf("server saw %d attempts, want 6 (3 per message at most)", got)
	}
	if strings.Contains(logs.String(), "12345678") {
		t.Errorf("the outbox logged a mail body:\n%s", logs.String())
	}
}

// A permanent refusal is not retried.
func TestOutbox_Rejected(t *testing.T) {
	srv := mailtest.Start(t)
	o := newOutbox(t, newSMTP(t, srv), &fakeClock{t: time.Now()}, &lockedBuffer{}, 5)
	srv.Reject(true)
	g := newGaveUp()
	if err := o.Enqueue(testMessage, mail.Delivery{GiveUp: g.fn}); err != nil {
		t.Fatal(err)
	}
	if err := g.wait(t); !errors.Is(err, mail.ErrRejected) {
		t.Errorf("GiveUp(%v), want ErrRejected", err)
	}
	if got := srv.Attempts(); got != 1 {
		t.Errorf("server saw %d attempts, want 1", got)
	}
	if !o.Ready() {
		t.Error("one refused recipient marked the server down")
	}
}

// H5: a message whose code expired is not sent any more.
func TestOutbox_Deadline_H5(t *testing.T) {
	srv := mailtest.Start(t)
	clock := &fakeClock{t: time.Now()}
	o := newOutbox(t, newSMTP(t, srv), clock, &lockedBuffer{}, 5)
	srv.Hang()
	// The first message occupies the only worker until Release.
	if err := o.Enqueue(testMessage, mail.Delivery{}); err != nil {
		t.Fatal(err)
	}
	g := newGaveUp()
	late := testMessage
	late.To = "late@example.go.id"
	if err := o.Enqueue(late, mail.Delivery{Deadline: clock.Now().Add(10 * time.Minute), GiveUp: g.fn}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Minute)
	srv.Release()
	if err := g.wait(t); err == nil {
		t.Error("GiveUp got a nil error")
	}
	if _, err := srv.Next(t.Context(), testMessage.To); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.To(late.To)); n != 0 {
		t.Errorf("%d expired messages were sent, want 0", n)
	}
}

// H5: while the server is down the outbox says so, and says when it is
// back (the probe).
func TestOutbox_Ready_H5(t *testing.T) {
	srv := mailtest.Start(t)
	o := newOutbox(t, newSMTP(t, srv), &fakeClock{t: time.Now()}, &lockedBuffer{}, 1)
	if !o.Ready() {
		t.Fatal("new outbox not ready")
	}
	srv.Stop()
	g := newGaveUp()
	if err := o.Enqueue(testMessage, mail.Delivery{GiveUp: g.fn}); err != nil {
		t.Fatal(err)
	}
	g.wait(t)
	if o.Ready() {
		t.Error("Ready() = true after the server refused the connection")
	}
	srv.Restart()
	for !o.Ready() {
		select {
		case <-t.Context().Done():
			t.Fatal("outbox never saw the server back")
		case <-time.After(time.Millisecond):
		}
	}
}

func TestOutbox_QueueFull(t *testing.T) {
	srv := mailtest.Start(t)
	o := newOutbox(t, newSMTP(t, srv), &fakeClock{t: time.Now()}, &lockedBuffer{}, 1)
	srv.Hang()
	var err error
	for range 10 {
		if err = o.Enqueue(testMessage, mail.Delivery{}); err != nil {
			break
		}
	}
	if !errors.Is(err, mail.ErrQueueFull) {
		t.Errorf("Enqueue beyond the queue = %v, want ErrQueueFull", err)
	}
	if o.Ready() {
		t.Error("Ready() = true with a full queue")
	}
	srv.Release()
	o.Close()
	if err := o.Enqueue(testMessage, mail.Delivery{}); !errors.Is(err, mail.ErrClosed) {
		t.Errorf("Enqueue after Close = %v, want ErrClosed", err)
	}
}

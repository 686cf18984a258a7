package mail

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Outbox hands mail to a Sender in the background, so a page never waits
// for the mail server: a reset request answers at once even when the
// server hangs, and answers in the same time whether or not a mail was
// queued (no account enumeration by timing).
//
// A message is tried up to Attempts times with a doubling pause between
// attempts, and given up earlier when the server refuses it for good or
// its deadline (the expiry of the code it carries) passes. The outbox also
// tracks whether the server currently takes mail: a failed connection
// marks it down, and while it is down a probe (for senders that can probe)
// checks every ProbeInterval until it is back. Pages consult Ready to tell
// the employee that nothing can be sent now.
//
// The queue lives in memory: bodies hold codes, which must not rest in the
// database, and a code lost in a crash is asked for again. Nothing an
// Outbox logs contains a body.
type Outbox struct {
	sender Sender
	opts   OutboxOptions
	queue  chan *delivery
	up     atomic.Bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
}

// OutboxOptions tune an Outbox; zero fields take the defaults.
type OutboxOptions struct {
	// QueueSize is how many messages may wait (default 1000).
	QueueSize int
	// Workers is how many messages are sent at once (default 2).
	Workers int
	// Attempts is how often a message is tried (default 5).
	Attempts int
	// RetryDelay is the pause after the first failed attempt, doubled after
	// each further one (default 30 s).
	RetryDelay time.Duration
	// AttemptTimeout bounds one attempt (default 60 s).
	AttemptTimeout time.Duration
	// ProbeInterval is how often a server marked down is checked
	// (default 30 s).
	ProbeInterval time.Duration
	// Now is the clock deadlines are compared with.
	Now func() time.Time
	Log *slog.Logger
}

// Delivery says what to do with one message beyond sending it.
type Delivery struct {
	// Deadline is when the message becomes useless (its code expires);
	// zero means never. No attempt starts after it.
	Deadline time.Time
	// GiveUp, when set, runs once if the message is not delivered, with
	// the last error.
	GiveUp func(err error)
}

type delivery struct {
	msg      Message
	d        Delivery
	attempts int
}

// Errors of Enqueue.
var (
	ErrQueueFull = errors.New("mail queue full")
	ErrClosed    = errors.New("mail outbox closed")
)

// Prober is a Sender that can check the server without sending mail.
type Prober interface {
	Probe(ctx context.Context) error
}

// NewOutbox starts the workers; Close stops them.
func NewOutbox(s Sender, o OutboxOptions) *Outbox {
	if o.QueueSize <= 0 {
		o.QueueSize = 1000
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = 30 * time.Second
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = 60 * time.Second
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	ob := &Outbox{sender: s, opts: o, queue: make(chan *delivery, o.QueueSize)}
	ob.up.Store(true)
	ob.ctx, ob.cancel = context.WithCancel(context.Background())
	for range o.Workers {
		ob.wg.Go(ob.work)
	}
	ob.wg.Go(ob.watch)
	return ob
}

// Send queues m with no deadline: Outbox is a Sender.
func (o *Outbox) Send(_ context.Context, m Message) error {
	return o.Enqueue(m, Delivery{})
}

// Enqueue queues m. It never waits: a full queue is ErrQueueFull.
func (o *Outbox) Enqueue(m Message, d Delivery) error {
	if o.closed.Load() {
		return ErrClosed
	}
	select {
	case o.queue <- &delivery{msg: m, d: d}:
		return nil
	default:
		return ErrQueueFull
	}
}

// Ready reports whether a message queued now is expected to go out: the
// server took mail (or answered a probe) last time and the queue has room.
func (o *Outbox) Ready() bool {
	return o.up.Load() && len(o.queue) < cap(o.queue) && !o.closed.Load()
}

// Close stops accepting mail, ends pending retries and waits for attempts
// in progress to end (each is bounded by AttemptTimeout).
func (o *Outbox) Close() {
	if o.closed.Swap(true) {
		return
	}
	o.cancel()
	o.wg.Wait()
}

func (o *Outbox) work() {
	for {
		select {
		case <-o.ctx.Done():
			return
		case d := <-o.queue:
			o.attempt(d)
		}
	}
}

func (o *Outbox) attempt(d *delivery) {
	log := o.opts.Log.With("to", d.msg.To)
	if !d.d.Deadline.IsZero() && !o.opts.Now().Before(d.d.Deadline) {
		o.giveUp(d, log, errors.New("deadline passed before delivery"))
		return
	}
	d.attempts++
	ctx, cancel := context.WithTimeout(o.ctx, o.opts.AttemptTimeout)
	err := o.sender.Send(ctx, d.msg)
	cancel()
	switch {
	case err == nil:
		o.up.Store(true)
		log.Info("mail sent", "attempt", d.attempts)
		return
	case o.ctx.Err() != nil:
		return // shutting down; the message is lost with the process
	case errors.Is(err, ErrRejected), errors.Is(err, ErrBadRecipient):
		o.giveUp(d, log, err)
		return
	}
	// Unreachable, timed out or a temporary refusal: the server may be
	// down for everyone, so say so until a probe or a delivery says
	// otherwise.
	o.markDown()
	if d.attempts >= o.opts.Attempts {
		o.giveUp(d, log, err)
		return
	}
	pause := o.opts.RetryDelay << (d.attempts - 1)
	if !d.d.Deadline.IsZero() && !o.opts.Now().Add(pause).Before(d.d.Deadline) {
		o.giveUp(d, log, err)
		return
	}
	log.Warn("mail not sent; will retry", "attempt", d.attempts, "retry_in", pause, "err", err)
	o.wg.Go(func() {
		t := time.NewTimer(pause)
		defer t.Stop()
		select {
		case <-o.ctx.Done():
		case <-t.C:
			select {
			case o.queue <- d:
			default:
				o.giveUp(d, log, ErrQueueFull)
			}
		}
	})
}

func (o *Outbox) giveUp(d *delivery, log *slog.Logger, err error) {
	log.Error("mail not delivered; giving up", "attempts", d.attempts, "err", err)
	if d.d.GiveUp != nil {
		d.d.GiveUp(err)
	}
}

func (o *Outbox) markDown() {
	if o.up.Swap(false) {
		o.opts.Log.Warn("mail server not taking mail; pages will say mail cannot be sent until it is back")
	}
}

// watch probes the server while it is marked down.
func (o *Outbox) watch() {
	p, canProbe := o.sender.(Prober)
	t := time.NewTicker(o.opts.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-o.ctx.Done():
			return
		case <-t.C:
		}
		if o.up.Load() {
			continue
		}
		if canProbe {
			ctx, cancel := context.WithTimeout(o.ctx, o.opts.AttemptTimeout)
			err := p.Probe(ctx)
			cancel()
			if err != nil {
				o.opts.Log.Debug("mail server still down", "err", err)
				continue
			}
		}
		if !o.up.Swap(true) {
			o.opts.Log.Info("mail server takes mail again")
		}
	}
}

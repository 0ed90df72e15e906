package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DefaultTimeout bounds one Notify of Webhook and SMTP when their Timeout
// is zero, whatever the context's deadline.
const DefaultTimeout = 30 * time.Second

// Notifier delivers a Message. Notify must return once ctx is done, and
// its errors should start with Name so that they say where they come from.
// Name must not hold secrets.
type Notifier interface {
	Name() string
	Notify(ctx context.Context, m Message) error
}

// Multi is a Notifier that sends to all of its notifiers through [All].
type Multi []Notifier

// Name lists the notifiers' names.
func (ms Multi) Name() string {
	names := make([]string, 0, len(ms))
	for _, n := range ms {
		if n != nil {
			names = append(names, n.Name())
		}
	}
	return strings.Join(names, ", ")
}

// Notify sends m to all notifiers; see [All].
func (ms Multi) Notify(ctx context.Context, m Message) error {
	return All(ctx, m, ms...)
}

// Validate validates every notifier that has a Validate method and joins
// their errors.
func (ms Multi) Validate() error {
	var errs []error
	for _, n := range ms {
		if v, ok := n.(interface{ Validate() error }); ok {
			errs = append(errs, v.Validate())
		}
	}
	return errors.Join(errs...)
}

// giveUpGrace is how long All still collects results after ctx is done, so
// that notifiers which honor ctx report their own error.
const giveUpGrace = 100 * time.Millisecond

// All sends m to every non-nil notifier at once and returns their errors
// joined, in the order of notifiers; nil when all succeeded. A notifier
// that panics fails with an error. All returns shortly after ctx is done
// even if a notifier ignores ctx: such a notifier fails with ctx's error
// and is left to finish on its own.
func All(ctx context.Context, m Message, notifiers ...Notifier) error {
	type result struct {
		i   int
		err error
	}
	results := make(chan result, len(notifiers)) // buffered: late senders never block
	pending := map[int]bool{}
	for i, n := range notifiers {
		if n == nil {
			continue
		}
		pending[i] = true
		go func() { results <- result{i, notifyOne(ctx, n, m)} }()
	}
	errs := make([]error, len(notifiers))
	var giveUp <-chan time.Time
	done := ctx.Done()
	for len(pending) > 0 {
		select {
		case r := <-results:
			errs[r.i] = r.err
			delete(pending, r.i)
		case <-done:
			done, giveUp = nil, time.After(giveUpGrace)
		case <-giveUp:
			for i := range pending {
				errs[i] = fmt.Errorf("%s: gave up waiting: %w", notifiers[i].Name(), context.Cause(ctx))
			}
			return errors.Join(errs...)
		}
	}
	return errors.Join(errs...)
}

// notifyOne turns a panic of n into an error.
func notifyOne(ctx context.Context, n Notifier, m Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: panic: %v", n.Name(), r)
		}
	}()
	return n.Notify(ctx, m)
}

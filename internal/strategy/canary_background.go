package strategy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/verify"
)

// StageAnalysis is the stage of a canary's background analysis: its
// measurements, taken while the steps run, and its verdict once they are
// done.
const StageAnalysis = "Analysis"

// errBackgroundInconclusive is wrapped by a background analysis's verdict
// when it could not judge.
var errBackgroundInconclusive = errors.New("the background analysis could not judge")

// background is a canary's background analysis: its checks (analyses
// whose metrics measure until stopped) run from the first step that gives
// the canary traffic until promotion. A failed one ends the step under
// way at once, and the canary aborts; one that could not judge ends it
// too, and a person decides. Either way the verdict comes within one
// measurement, not at the end of a step.
type background struct {
	specs   []verify.Spec
	sink    event.Sink
	cancel  context.CancelFunc
	done    chan struct{}   // closed when every check has returned
	results []verify.Result // each check's, once done is closed
	mu      sync.Mutex
	early   error         // the verdict of the first check that failed or could not judge
	judged  chan struct{} // closed when early is set
	decided bool          // a person judged instead, after an inconclusive verdict
}

func newBackground(specs []verify.Spec, sink event.Sink) *background {
	return &background{specs: specs, sink: sink, judged: make(chan struct{})}
}

// running reports whether the checks run and their verdict still counts.
func (b *background) running() bool {
	return b != nil && b.cancel != nil && !b.decided
}

// start runs the checks, unless there are none or they run already.
func (b *background) start(ctx context.Context) {
	if b == nil || len(b.specs) == 0 || b.cancel != nil || b.decided {
		return
	}
	ctx, b.cancel = context.WithCancel(event.WithSink(ctx, b.sink, StageAnalysis))
	b.done, b.results = make(chan struct{}), make([]verify.Result, len(b.specs))
	event.Stamp(b.sink, event.Event{Type: event.ObjectStatus, Stage: StageAnalysis, Object: b.names(), Status: "running",
		Message: "in the background until promotion: a failed metric aborts the canary at once"})
	var wg sync.WaitGroup
	for i, s := range b.specs {
		wg.Go(func() { b.run(ctx, i, s.Check) })
	}
	go func() { wg.Wait(); close(b.done) }()
}

// run probes check i: an analysis whose metrics have no count returns when
// one fails or cannot judge, or when ctx ends (then finish judges it).
func (b *background) run(ctx context.Context, i int, c verify.Check) {
	r := c.Probe(ctx)
	b.results[i] = r
	if r.OK || ctx.Err() != nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.early == nil {
		b.early = verdict(c, r)
		close(b.judged)
		b.cancel() // the others' measurements no longer matter
	}
}

// verdict is the error a check's result that did not pass stands for.
func verdict(c verify.Check, r verify.Result) error {
	if r.Inconclusive {
		return fmt.Errorf("%s: %w: %s", c.Name(), errBackgroundInconclusive, r.Detail)
	}
	return fmt.Errorf("%s: %w: %s", c.Name(), verify.ErrCheckFailed, r.Detail)
}

// during runs fn, ending it at once with the verdict if the background
// analysis fails or cannot judge meanwhile.
func (b *background) during(ctx context.Context, fn func(context.Context) error) error {
	if !b.running() {
		return fn(ctx)
	}
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-b.judged:
			cancel(b.early)
		case <-sctx.Done():
		}
	}()
	err := fn(sctx)
	if ctx.Err() == nil && sctx.Err() != nil {
		return context.Cause(sctx)
	}
	return err
}

// finish stops the checks and returns their verdict: nil if none failed
// and each passed its measurements so far, else why not. A metric stopped
// with no measurement passed, or whose last ones could not be taken, did
// not pass: it cannot judge.
func (b *background) finish() error {
	if !b.running() {
		return nil
	}
	b.stop()
	if b.early != nil {
		return b.early
	}
	for i, r := range b.results {
		if !r.OK {
			return verdict(b.specs[i].Check, r)
		}
	}
	return nil
}

// stop ends the checks and waits for them.
func (b *background) stop() {
	if b == nil || b.cancel == nil {
		return
	}
	b.cancel()
	<-b.done
}

// names are the checks' names, for events.
func (b *background) names() string {
	names := make([]string, len(b.specs))
	for i, s := range b.specs {
		names[i] = s.Check.Name()
	}
	return strings.Join(names, ", ")
}

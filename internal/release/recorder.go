package release

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/cutover/cutover/internal/event"
)

// writeTimeout bounds one record write made on behalf of an event, which
// carries no context of its own.
const writeTimeout = 10 * time.Second

// Recorder keeps a run's record in step with the run: as an event.Sink it
// notes every stage's start and end, and Change and Finish write the rest.
// Until Start, changes stay in memory: a run refused before its first
// write leaves no record. A failed write is logged and retried with the
// next change: a record is an account of the run, never a reason to stop it.
type Recorder struct {
	store *Store
	log   *slog.Logger

	mu      sync.Mutex
	rec     *Record
	started bool
}

// NewRecorder returns a Recorder of r, not yet stored.
func NewRecorder(s *Store, r *Record, log *slog.Logger) *Recorder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{store: s, rec: r, log: log}
}

// Emit notes stage events; other events are ignored.
func (r *Recorder) Emit(e event.Event) {
	switch e.Type {
	case event.StageStarted:
		r.change(func(rec *Record) {
			rec.Stages = append(rec.Stages, Stage{Name: e.Stage, Started: e.Time.UTC(), Status: StageRunning})
		})
	case event.StageFinished:
		r.change(func(rec *Record) { finishStage(rec, e) })
	}
}

func finishStage(rec *Record, e event.Event) {
	for i := len(rec.Stages) - 1; i >= 0; i-- {
		if s := &rec.Stages[i]; s.Name == e.Stage && s.Status == StageRunning {
			s.Finished, s.Status, s.Error = e.Time.UTC(), e.Status, e.Error
			return
		}
	}
}

func (r *Recorder) change(fn func(*Record)) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	_ = r.Change(ctx, fn)
}

// Change applies fn to the record and writes it.
func (r *Recorder) Change(ctx context.Context, fn func(*Record)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(r.rec)
	if !r.started {
		return nil
	}
	if err := r.store.Update(ctx, r.rec); err != nil {
		r.log.Warn("release record not written", "app", r.rec.App, "revision", r.rec.Revision, "err", err)
		return err
	}
	return nil
}

// Start stores the record (Store.Create), with every change so far.
func (r *Recorder) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return nil
	}
	if err := r.store.Create(ctx, r.rec); err != nil {
		return err
	}
	r.started = true
	return nil
}

// Started reports whether the record is stored.
func (r *Recorder) Started() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.started
}

// Record returns a copy of the record as it stands.
func (r *Recorder) Record() Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := *r.rec
	c.Stages = append([]Stage(nil), r.rec.Stages...)
	return c
}

// Finish writes the run's outcome, if the record was stored. It uses its
// own bounded context, so a run cut short by its timeout still leaves its
// outcome.
func (r *Recorder) Finish(outcome string, err error) error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	return r.Change(ctx, func(rec *Record) {
		rec.Outcome, rec.Finished = outcome, time.Now().UTC()
		if err != nil {
			rec.Error = err.Error()
		}
	})
}

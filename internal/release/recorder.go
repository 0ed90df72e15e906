package release

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/cutover/cutover/internal/event"
)

const (
	// writeTimeout bounds one record write made in the background.
	writeTimeout = 10 * time.Second
	// coalesceDelay is how long the background writer waits for more
	// changes before it writes: stages often end together (the last ones
	// within a millisecond of the outcome), and each write costs the
	// API server a record's worth of etcd.
	coalesceDelay = 25 * time.Millisecond
)

// Recorder keeps a run's record in step with the run: as an event.Sink it
// notes every stage's start and end, and Change and Finish write the rest.
//
// Until Start, changes stay in memory: a run refused before its first write
// leaves no record. After Start, stage events are written in the
// background, coalesced (coalesceDelay), so that keeping the record never delays the run
// (a switch must not wait for a bookkeeping write); Change and Finish write
// at once. A failed background write is logged and retried with the next
// change (the first failure of a streak is logged): a record is an account
// of the run, never a reason to stop it.
type Recorder struct {
	store *Store
	log   *slog.Logger

	mu      sync.Mutex
	rec     *Record
	started bool

	writing sync.Mutex    // one write at a time, in order
	failing bool          // the last write failed (under writing): a streak is logged once
	wake    chan struct{} // a background write is wanted
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once

	objectsDone chan struct{} // closed once the objects are written, or not
	objectsLost error         // why they were not; read after objectsDone
}

// NewRecorder returns a Recorder of r, not yet stored.
func NewRecorder(s *Store, r *Record, log *slog.Logger) *Recorder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{store: s, rec: r, log: log, wake: make(chan struct{}, 1),
		stop: make(chan struct{}), stopped: make(chan struct{})}
}

// Emit notes stage events, endpoint drift warnings and analysis
// measurements; other events are ignored.
func (r *Recorder) Emit(e event.Event) {
	switch e.Type {
	case event.Warning:
		if e.Status == "endpoint drift" { // drift.Status
			r.note(func(rec *Record) {
				if len(rec.Warnings) < MaxWarnings {
					rec.Warnings = append(rec.Warnings, Warning{Time: e.Time.UTC(), Object: e.Object, Message: e.Message})
				}
			})
		}
	case event.Analysis:
		r.note(func(rec *Record) {
			if len(rec.Measurements) >= MaxMeasurements { // the latest tell most: a background analysis's last one ended it
				rec.Measurements = slices.Delete(rec.Measurements, 0, len(rec.Measurements)-MaxMeasurements+1)
			}
			rec.Measurements = append(rec.Measurements, Measurement{Time: e.Time.UTC(), Stage: e.Stage,
				Metric: strings.TrimPrefix(e.Object, "metric "), Phase: e.Status, Value: e.Message})
		})
	case event.StageStarted:
		r.note(func(rec *Record) {
			rec.Stages = append(rec.Stages, Stage{Name: e.Stage, ID: event.StageID(e.Stage), Started: e.Time.UTC(), Status: StageRunning})
		})
	case event.StageFinished:
		r.note(func(rec *Record) { finishStage(rec, e) })
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

// note applies fn and asks the background writer to write.
func (r *Recorder) note(fn func(*Record)) {
	r.mu.Lock()
	fn(r.rec)
	started := r.started
	r.mu.Unlock()
	if started {
		select {
		case r.wake <- struct{}{}:
		default: // a write is already wanted; it will carry this change
		}
	}
}

// Start stores the record (as Store.Create does), with every change so
// far, and starts the background writer. The objects the record keeps are
// written in the background too, while the run goes on: they matter only
// to a later rollback, and Finish waits for them. Objects that could not
// be written are logged, as a failed background write is, and the record
// then says why it keeps none (ObjectsLost).
func (r *Recorder) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return nil
	}
	if err := r.store.createRecord(ctx, r.rec); err != nil {
		return err
	}
	r.started = true
	var objects *corev1.ConfigMap
	if r.rec.objectsCM != "" {
		objects = objectsConfigMap(r.rec) // the owner reference needs the record's UID
	}
	r.objectsDone = make(chan struct{})
	go r.writeObjects(objects)
	go r.writer()
	return nil
}

// Continue marks the record as stored already (as read from the Store)
// and starts the background writer: a run that continues an earlier one
// (a promote of a pending release) writes to that run's record from its
// first write on. Changes made before stay in memory until then.
func (r *Recorder) Continue() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return
	}
	r.started = true
	r.objectsDone = make(chan struct{})
	close(r.objectsDone)
	go r.writer()
}

// writeObjects creates the objects ConfigMap cm, if any; when that fails,
// the record keeps no objects from its next write on.
func (r *Recorder) writeObjects(cm *corev1.ConfigMap) {
	defer close(r.objectsDone)
	if cm == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	err := r.store.writeObjects(ctx, cm)
	if err == nil {
		return
	}
	r.objectsLost = err
	r.log.Info("release objects not written", "configmap", cm.Name, "err", err) // ObjectsLost tells the run
	r.note(func(rec *Record) { rec.omitObjects(err) })
}

// ObjectsLost waits until the objects the record keeps are written, and
// returns why they were not, or nil (also when it keeps none, or is not
// stored).
func (r *Recorder) ObjectsLost() error {
	if !r.Started() {
		return nil
	}
	<-r.objectsDone
	return r.objectsLost
}

func (r *Recorder) writer() {
	defer close(r.stopped)
	for {
		select {
		case <-r.stop:
			return
		case <-r.wake:
			select { // let the stages that end together share one write
			case <-r.stop: // Finish writes every change, and at once
				return
			case <-time.After(coalesceDelay):
			}
			ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
			_ = r.write(ctx)
			cancel()
		}
	}
}

// write stores a snapshot of the record, without holding mu during the
// request, then takes back what the store learned (its version, a decided
// approval).
func (r *Recorder) write(ctx context.Context) error {
	r.writing.Lock()
	defer r.writing.Unlock()
	r.mu.Lock()
	snap := *r.rec
	snap.Stages = slices.Clone(r.rec.Stages)
	r.mu.Unlock()
	if err := r.store.Update(ctx, &snap); err != nil {
		if !r.failing {
			r.log.Warn("the release record was not updated", "app", snap.App, "revision", snap.Revision, "err", err)
		}
		r.failing = true
		return err
	}
	r.failing = false
	r.mu.Lock()
	r.rec.cm = snap.cm
	if snap.Approval.decided() && !r.rec.Approval.decided() {
		r.rec.Approval = snap.Approval
	}
	if snap.AbortRequest != nil && r.rec.AbortRequest == nil {
		r.rec.AbortRequest = snap.AbortRequest
	}
	r.mu.Unlock()
	return nil
}

// Change applies fn to the record and writes it before returning.
func (r *Recorder) Change(ctx context.Context, fn func(*Record)) error {
	r.mu.Lock()
	fn(r.rec)
	started := r.started
	r.mu.Unlock()
	if !started {
		return nil
	}
	return r.write(ctx)
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
	c.Stages = slices.Clone(r.rec.Stages)
	return c
}

// Finish waits for the objects to be written, stops the background writer
// and writes the run's outcome, if the record was stored. It uses its own
// bounded context, so a run cut short by its timeout still leaves its
// outcome.
func (r *Recorder) Finish(outcome string, err error) error {
	if r.Started() {
		<-r.objectsDone
		r.once.Do(func() { close(r.stop) })
		<-r.stopped
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	return r.Change(ctx, func(rec *Record) {
		rec.Outcome, rec.Finished = outcome, time.Now().UTC()
		if err != nil {
			rec.Error = err.Error()
		}
	})
}

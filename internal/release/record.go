package release

import (
	"cmp"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cutover/cutover/internal/event"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Stage statuses.
const (
	StageRunning   = "running"
	StageSucceeded = "succeeded"
	StageFailed    = "failed"
	StageSkipped   = "skipped"
)

// Outcomes of a run.
const (
	OutcomeRunning    = "running"
	OutcomeSucceeded  = "succeeded"
	OutcomeFailed     = "failed"
	OutcomeRolledBack = "rolled-back"
	OutcomeAborted    = "aborted"
)

// Approval states.
const (
	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalRejected = "rejected"
	// ApprovalExpired: nobody decided before the approval timeout.
	ApprovalExpired = "expired"
)

// Warning is a warning event of a run, as its record keeps it.
type Warning struct {
	Time    time.Time
	Object  string
	Message string
}

// MaxWarnings bounds the warnings a record keeps.
const MaxWarnings = 50

// Measurement is one measurement of a metric analysis (package analysis),
// as a record keeps it.
type Measurement struct {
	Time          time.Time
	Stage, Metric string
	Phase         string // successful, failed, inconclusive or error
	Value         string // as printed: "result 0.02", or why it could not be taken
}

// MaxMeasurements bounds the measurements a record keeps.
const MaxMeasurements = 200

// Stage is one step of a run.
type Stage struct {
	Name              string
	ID                string // event.StageID(Name): what programs match on
	Started, Finished time.Time
	Status, Error     string // Status: running, succeeded, failed or skipped
}

// Approval is the manual gate of a run.
type Approval struct {
	State   string // pending, approved or rejected
	By      string
	At      time.Time
	Comment string
}

// decided reports whether a has been approved or rejected.
func (a *Approval) decided() bool {
	return a != nil && (a.State == ApprovalApproved || a.State == ApprovalRejected)
}

// Record is what the cluster remembers of one run. It is not safe for
// concurrent use.
type Record struct {
	App, Namespace, Strategy string
	// Revision is 1, 2, 3... per app, assigned by Store.Create.
	Revision int
	// FromColor is the active color before the run, ToColor its target;
	// both empty for a rolling update.
	FromColor, ToColor string
	// Service and SelectorKey locate blue/green's production switch, for
	// cutover rollback APP.
	Service, SelectorKey string
	// Images are the container images of the release: of every workload
	// in its objects, a migration Job's too.
	Images []string
	// DeploymentImages are the images of the release's Deployments only,
	// init containers included, sorted and without repeats: what a
	// blue/green color running the release shows (see ColorImages). Empty
	// in a record written before it was kept.
	DeploymentImages []string
	// Digest identifies the release's rendered objects, so that a rerun
	// after a crash knows whether it continues the same release.
	Digest string
	Stages []Stage
	// Outcome is running, succeeded, failed, rolled-back or aborted.
	Outcome  string
	Error    string
	Approval *Approval
	// Holder is the identity of the run, as in its Lock.
	Holder string
	// By is the person who asked for the run, when a front end that knows
	// people started it (a rollback from the dashboard); empty for a run
	// from the command line, whose Holder says where it ran.
	By string
	// Comment is what By said when asking for the run.
	Comment           string
	Started, Finished time.Time
	// SkippedSecrets names the Secrets among the release's objects, which
	// the record does not keep (see SetObjects): a redeploy of the release
	// leaves them as they are.
	SkippedSecrets []string
	// ObjectsOmitted says why the record keeps none of its release's
	// objects, when it could not; empty when it keeps them, or when it was
	// written before records kept objects.
	ObjectsOmitted string
	// Warnings are the run's endpoint drift warnings (package drift), in
	// order, at most MaxWarnings.
	Warnings []Warning
	// Measurements are the run's metric analysis measurements, in order:
	// the latest MaxMeasurements.
	Measurements []Measurement
	// Staged is set by a run that stopped before Confirm (OutcomePending).
	Staged *Staged
	// Canary is a canary run's progress through its steps.
	Canary *Canary
	// AbortRequest is set when someone asked the running release to
	// abort (cutover abort APP); the run watches for it.
	AbortRequest *Approval

	cm *corev1.ConfigMap // as last read or written; guards Update
	// uid is the record's ConfigMap's, which owns the kept objects'
	// ConfigMap; Detach keeps it.
	uid types.UID

	// The kept objects live in a ConfigMap of their own, objectsCM, written
	// once by Store.Create; the record carries only its name and their size
	// (objectsSize, gzipped), so that HasObjects needs no request. objects is
	// the gzipped YAML in memory: from SetObjects or CopyObjects until Create
	// writes it, or as Store.Objects read it.
	objects     []byte
	objectsCM   string
	objectsSize int
}

// recordVersion is the version of the JSON this package writes and reads.
const recordVersion = 1

// recordKey is the ConfigMap data key holding the JSON.
const recordKey = "record"

// wireRecord is the stored JSON, version 1. Fields may be added; none may
// change meaning or type without a new version.
type wireRecord struct {
	Version   int           `json:"version"`
	App       string        `json:"app"`
	Namespace string        `json:"namespace"`
	Strategy  string        `json:"strategy"`
	Revision  int           `json:"revision"`
	FromColor string        `json:"fromColor,omitempty"`
	ToColor   string        `json:"toColor,omitempty"`
	Service   string        `json:"service,omitempty"`
	SelKey    string        `json:"selectorKey,omitempty"`
	Images    []string      `json:"images,omitempty"`
	Digest    string        `json:"digest,omitempty"`
	Stages    []wireStage   `json:"stages,omitempty"`
	Outcome   string        `json:"outcome"`
	Error     string        `json:"error,omitempty"`
	Approval  *wireApproval `json:"approval,omitempty"`
	Holder    string        `json:"holder,omitempty"`
	By        string        `json:"by,omitempty"`
	Comment   string        `json:"comment,omitempty"`
	Started   string        `json:"started,omitempty"`
	Finished  string        `json:"finished,omitempty"`
	// Objects locates the kept objects, which are never in this JSON.
	Objects        *wireObjects      `json:"objects,omitempty"`
	SkippedSecrets []string          `json:"skippedSecrets,omitempty"`
	ObjectsOmitted string            `json:"objectsOmitted,omitempty"`
	Warnings       []wireWarning     `json:"warnings,omitempty"`
	Measurements   []wireMeasurement `json:"measurements,omitempty"`
	Staged         *wireStaged       `json:"staged,omitempty"`
	Canary         *wireCanary       `json:"canary,omitempty"`
	AbortRequest   *wireApproval     `json:"abortRequest,omitempty"`
	// DepImages is absent from records written before it was kept:
	// ColorImages then reads Images.
	DepImages []string `json:"deploymentImages,omitempty"`
}

type wireStage struct {
	Name     string `json:"name"`
	ID       string `json:"id,omitempty"`
	Status   string `json:"status"`
	Started  string `json:"started,omitempty"`
	Finished string `json:"finished,omitempty"`
	Error    string `json:"error,omitempty"`
}

// wireObjects names the ConfigMap holding a record's objects, and their
// size in bytes, gzipped.
type wireObjects struct {
	ConfigMap string `json:"configMap"`
	Bytes     int    `json:"bytes"`
}

type wireMeasurement struct {
	Time   string `json:"time"`
	Stage  string `json:"stage,omitempty"`
	Metric string `json:"metric"`
	Phase  string `json:"phase"`
	Value  string `json:"value,omitempty"`
}

type wireWarning struct {
	Time    string `json:"time"`
	Object  string `json:"object,omitempty"`
	Message string `json:"message"`
}

type wireApproval struct {
	State   string `json:"state"`
	By      string `json:"by,omitempty"`
	At      string `json:"at,omitempty"`
	Comment string `json:"comment,omitempty"`
}

func encodeRecord(r *Record) (string, error) {
	w := wireRecord{
		Version: recordVersion, App: r.App, Namespace: r.Namespace, Strategy: r.Strategy,
		Revision: r.Revision, FromColor: r.FromColor, ToColor: r.ToColor, Images: r.Images, Digest: r.Digest,
		DepImages: r.DeploymentImages, Service: r.Service, SelKey: r.SelectorKey,
		Outcome: r.Outcome, Error: r.Error, Approval: wireApprovalOf(r.Approval),
		Holder: r.Holder, By: r.By, Comment: r.Comment, Started: formatTime(r.Started), Finished: formatTime(r.Finished),
		Objects: wireObjectsOf(r), SkippedSecrets: r.SkippedSecrets, ObjectsOmitted: r.ObjectsOmitted,
		Staged: wireStagedOf(r.Staged), Canary: wireCanaryOf(r.Canary), AbortRequest: wireApprovalOf(r.AbortRequest),
	}
	for _, s := range r.Stages {
		w.Stages = append(w.Stages, wireStage{
			Name: s.Name, ID: s.ID, Status: s.Status, Error: s.Error,
			Started: formatTime(s.Started), Finished: formatTime(s.Finished),
		})
	}
	for _, x := range r.Warnings {
		w.Warnings = append(w.Warnings, wireWarning{Time: formatTime(x.Time), Object: x.Object, Message: x.Message})
	}
	for _, x := range r.Measurements {
		w.Measurements = append(w.Measurements, wireMeasurement{Time: formatTime(x.Time), Stage: x.Stage, Metric: x.Metric, Phase: x.Phase, Value: x.Value})
	}
	b, err := json.Marshal(w)
	if err != nil {
		return "", fmt.Errorf("encode record: %w", err)
	}
	return string(b), nil
}

func wireObjectsOf(r *Record) *wireObjects {
	if !r.HasObjects() {
		return nil
	}
	return &wireObjects{ConfigMap: r.objectsCM, Bytes: r.objectsSize}
}

func wireApprovalOf(a *Approval) *wireApproval {
	if a == nil {
		return nil
	}
	return &wireApproval{State: a.State, By: a.By, At: formatTime(a.At), Comment: a.Comment}
}

// decodeRecord reads the record a ConfigMap holds.
func decodeRecord(cm *corev1.ConfigMap) (*Record, error) {
	data, ok := cm.Data[recordKey]
	if !ok {
		return nil, fmt.Errorf("configmap %s holds no %q", cm.Name, recordKey)
	}
	var v struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal([]byte(data), &v); err != nil {
		return nil, fmt.Errorf("configmap %s: decode record: %w", cm.Name, err)
	}
	if v.Version != recordVersion {
		return nil, fmt.Errorf("configmap %s: record version %d, this cutover reads version %d", cm.Name, v.Version, recordVersion)
	}
	var w wireRecord
	if err := json.Unmarshal([]byte(data), &w); err != nil {
		return nil, fmt.Errorf("configmap %s: decode record: %w", cm.Name, err)
	}
	r, err := w.record()
	if err != nil {
		return nil, fmt.Errorf("configmap %s: %w", cm.Name, err)
	}
	r.setConfigMap(cm)
	return r, nil
}

func (w *wireRecord) record() (*Record, error) {
	t := timeParser{}
	r := &Record{
		App: w.App, Namespace: w.Namespace, Strategy: w.Strategy, Revision: w.Revision,
		FromColor: w.FromColor, ToColor: w.ToColor, Images: w.Images, Digest: w.Digest,
		DeploymentImages: w.DepImages, Service: w.Service, SelectorKey: w.SelKey,
		Outcome: w.Outcome, Error: w.Error, Holder: w.Holder, By: w.By, Comment: w.Comment,
		Started: t.parse(w.Started), Finished: t.parse(w.Finished),
		SkippedSecrets: w.SkippedSecrets, ObjectsOmitted: w.ObjectsOmitted,
	}
	for _, s := range w.Stages {
		r.Stages = append(r.Stages, Stage{
			Name: s.Name, ID: cmp.Or(s.ID, event.StageID(s.Name)), Status: s.Status, Error: s.Error,
			Started: t.parse(s.Started), Finished: t.parse(s.Finished),
		})
	}
	for _, x := range w.Warnings {
		r.Warnings = append(r.Warnings, Warning{Time: t.parse(x.Time), Object: x.Object, Message: x.Message})
	}
	for _, x := range w.Measurements {
		r.Measurements = append(r.Measurements, Measurement{Time: t.parse(x.Time), Stage: x.Stage, Metric: x.Metric, Phase: x.Phase, Value: x.Value})
	}
	if o := w.Objects; o != nil && o.Bytes > 0 && o.ConfigMap != "" {
		r.objectsCM, r.objectsSize = o.ConfigMap, o.Bytes
	}
	r.Approval = w.Approval.approval(&t)
	r.Staged = w.Staged.staged(&t)
	r.Canary = w.Canary.canary()
	r.AbortRequest = w.AbortRequest.approval(&t)
	return r, t.err
}

func (w *wireApproval) approval(t *timeParser) *Approval {
	if w == nil {
		return nil
	}
	return &Approval{State: w.State, By: w.By, At: t.parse(w.At), Comment: w.Comment}
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// timeParser parses stored times, keeping the first error.
type timeParser struct{ err error }

func (p *timeParser) parse(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("decode record: time %q: %w", s, err)
	}
	return t.UTC()
}

// Detach lets go of the ConfigMap r was read from, which Update would
// otherwise reuse: a reader that keeps many records only to show them
// (the dashboard) holds each once, not twice. An Update of a detached
// record reads its ConfigMap again first; its kept objects are still
// found (the ConfigMap's UID, which owns them, stays).
func (r *Record) Detach() { r.cm = nil }

// setConfigMap notes cm as r's ConfigMap, as last read or written.
func (r *Record) setConfigMap(cm *corev1.ConfigMap) {
	r.cm, r.uid = cm, cm.UID
}

// ColorImages are the images a blue/green color running r's release
// shows, read from its Deployments: DeploymentImages, or Images for a
// record written before records kept DeploymentImages (whose release then
// compares equal only if it had no workload but its Deployments).
func (r *Record) ColorImages() []string {
	if len(r.DeploymentImages) > 0 {
		return r.DeploymentImages
	}
	return r.Images
}

// MarshalJSON writes r as it is stored, so that `cutover status -o json`
// and the ConfigMap show one format.
func (r *Record) MarshalJSON() ([]byte, error) {
	s, err := encodeRecord(r)
	return []byte(s), err
}

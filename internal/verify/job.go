package verify

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// Labels a Job check puts on the Jobs it creates.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "cutover"
	// LabelAttempt marks the Job of one attempt, so that a Job whose create
	// call was cut short can still be found and deleted.
	LabelAttempt = "cutover.dev/verify-attempt"
)

// Job check defaults and bounds.
const (
	// DefaultTailLines is how many log lines are read per container of a
	// failed pod when TailLines is zero.
	DefaultTailLines = 50

	maxJobBase     = 57 // a generated name is the base, "-" and 5 characters: a 63-character label value
	maxLogBytes    = 64 << 10
	maxPodsReport  = 5
	maxEventsShown = 5
	maxJobDetail   = 400
	cleanupTimeout = 30 * time.Second
	reportTimeout  = 15 * time.Second
)

// Job runs a Kubernetes Job made from a template, a test suite for example,
// and passes when the Job completes. Each attempt creates a new Job, named
// after the template with a random suffix, watches it until its condition
// Complete (pass) or Failed (fail) or until the attempt ends, and deletes it,
// also when the attempt was cut short. A failed or timed-out attempt reads
// the logs of the Job's pods, or their status and events when the logs
// cannot be read. Job checks are long: run them with Policy{Attempts: 1}
// and a Timeout that fits the suite. It is safe for concurrent use as long as
// its fields are not changed.
//
// The client needs, in Namespace: create, watch, delete and deletecollection
// on jobs; list on pods and events; get on pods/log.
type Job struct {
	Client kubernetes.Interface
	// Namespace of the Jobs; default the template's.
	Namespace string
	// Template is the Job to create, from JobFromManifest for example. Its
	// name is the prefix of the Jobs' names; the Jobs keep its labels and
	// annotations. When its spec.backoffLimit and spec.backoffLimitPerIndex
	// are unset, backoffLimit is 0: retries are the Policy's business.
	Template *batchv1.Job
	// Labels are added to the Jobs' labels, with
	// app.kubernetes.io/managed-by: cutover. Pods are not labelled, lest
	// they match a Service's selector.
	Labels map[string]string
	// Label overrides Name; it must not hold credentials.
	Label string
	// TailLines is how many log lines are read per container of a failed
	// pod; default DefaultTailLines.
	TailLines int64
	// OnLogs, when set, receives for each pod of a failed or timed-out Job
	// (the newest few) the tail of its logs, or, when they cannot be read,
	// its status and recent events.
	OnLogs func(pod, text string)
}

// JobFromManifest turns a decoded manifest into a Job template, strictly:
// unknown fields are errors. It checks what a verification Job needs: a
// name to derive the Jobs' names from, containers, a restart policy of Never
// or OnFailure, and neither spec.suspend nor spec.manualSelector.
func JobFromManifest(obj *unstructured.Unstructured) (*batchv1.Job, error) {
	if obj == nil {
		return nil, errors.New("job manifest: none")
	}
	gvk := obj.GroupVersionKind()
	if gvk.Group != batchv1.GroupName || gvk.Version != "v1" || gvk.Kind != "Job" {
		return nil, fmt.Errorf("job manifest %s: apiVersion %q, kind %q: want apiVersion batch/v1, kind Job",
			manifestName(obj), obj.GetAPIVersion(), obj.GetKind())
	}
	job, err := decodeJob(obj)
	if err != nil {
		return nil, fmt.Errorf("job manifest %s: %w", manifestName(obj), err)
	}
	if err := validateTemplate(job); err != nil {
		return nil, fmt.Errorf("job manifest %s: %w", manifestName(obj), err)
	}
	return job, nil
}

// strictDecoder decodes API objects, refusing unknown fields, with errors
// that name the field: `strict decoding error: unknown field
// "spec.tempalte"`, "json: cannot unmarshal string into Go struct field
// JobSpec.spec.backoffLimit of type int32".
var strictDecoder = sync.OnceValue(func() runtime.Decoder {
	return serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
})

func decodeJob(obj *unstructured.Unstructured) (*batchv1.Job, error) {
	data, err := obj.MarshalJSON()
	if err != nil {
		return nil, err
	}
	job := &batchv1.Job{}
	if _, _, err := strictDecoder().Decode(data, nil, job); err != nil {
		return nil, err
	}
	return job, nil
}

func manifestName(obj *unstructured.Unstructured) string {
	if name := obj.GetName(); name != "" {
		return name
	}
	if name := obj.GetGenerateName(); name != "" {
		return name
	}
	return "(unnamed)"
}

// validateTemplate checks the fields of a Job template, naming them.
func validateTemplate(job *batchv1.Job) error {
	base := baseName(job)
	pod := &job.Spec.Template.Spec
	switch {
	case base == "":
		return errors.New("metadata.name is required: it prefixes the name of every Job created")
	case len(base) > maxJobBase:
		return fmt.Errorf("metadata.name %q: at most %d characters, to leave room for the random suffix", base, maxJobBase)
	case len(pod.Containers) == 0:
		return errors.New("spec.template.spec.containers: at least one container is required")
	case pod.RestartPolicy != corev1.RestartPolicyNever && pod.RestartPolicy != corev1.RestartPolicyOnFailure:
		return fmt.Errorf("spec.template.spec.restartPolicy %q: must be Never or OnFailure", pod.RestartPolicy)
	case job.Spec.Suspend != nil && *job.Spec.Suspend:
		return errors.New("spec.suspend: a suspended Job would never run")
	case job.Spec.ManualSelector != nil && *job.Spec.ManualSelector:
		return errors.New("spec.manualSelector: not supported, each attempt's Job selects its own pods")
	}
	return nil
}

// baseName is the template's name, or its generateName without the dash.
func baseName(job *batchv1.Job) string {
	if job.Name != "" {
		return job.Name
	}
	return strings.TrimSuffix(job.GenerateName, "-")
}

// Name describes the check: Label, or "job NAMESPACE/NAME" after the
// template.
func (j *Job) Name() string {
	if j.Label != "" {
		return j.Label
	}
	if j.Template == nil {
		return "job (no template)"
	}
	return "job " + j.namespace() + "/" + baseName(j.Template)
}

func (j *Job) namespace() string {
	if j.Namespace != "" {
		return j.Namespace
	}
	if j.Template != nil {
		return j.Template.Namespace
	}
	return ""
}

// Validate reports a check that cannot run.
func (j *Job) Validate() error {
	switch {
	case j.Client == nil:
		return errors.New("job: no client")
	case j.Template == nil:
		return errors.New("job: no template")
	case j.namespace() == "":
		return errors.New("job: no namespace")
	}
	if err := validateTemplate(j.Template); err != nil {
		return fmt.Errorf("job template: %w", err)
	}
	return nil
}

// Probe runs one Job to its end, or until ctx ends, and deletes it.
func (j *Job) Probe(ctx context.Context) Result {
	complete, detail, err := j.Run(ctx)
	if err != nil {
		return Result{Detail: err.Error()}
	}
	return Result{OK: complete, Detail: detail}
}

// Run runs one Job to its end and deletes it. complete says whether it
// completed or failed, with detail about it; err says that it could not be
// run or followed to its end: not created, cut short by ctx, deleted
// before it finished, a watch that broke.
func (j *Job) Run(ctx context.Context) (complete bool, detail string, err error) {
	if err := j.Validate(); err != nil {
		return false, "", err
	}
	start := time.Now()
	job, err := j.create(ctx)
	if err != nil {
		return false, "", errors.New("create job: " + apiDetail(err))
	}
	complete, detail, err = j.attempt(ctx, start, job)
	if derr := j.delete(ctx, job.Name); derr != nil {
		cleanup := fmt.Sprintf("delete job %s: %s", job.Name, apiDetail(derr))
		if err != nil {
			err = fmt.Errorf("%w; %s", err, cleanup)
		} else {
			detail += "; " + cleanup
		}
	}
	return complete, detail, err
}

// attempt watches a created Job to its end and judges it.
func (j *Job) attempt(ctx context.Context, start time.Time, job *batchv1.Job) (bool, string, error) {
	final, err := j.await(ctx, job)
	switch {
	case err == nil && jobCondition(final, batchv1.JobComplete):
		return true, "job " + job.Name + " complete", nil
	case err == nil:
		return false, j.failure(ctx, final), nil
	case errors.Is(err, context.Canceled):
		return false, "", errors.New("job " + job.Name + ": " + stoppedAfter(ctx, ctx.Err(), start))
	case ctx.Err() != nil:
		return false, "", errors.New(j.timeout(ctx, start, job))
	default:
		return false, "", fmt.Errorf("job %s: %s", job.Name, apiDetail(err))
	}
}

// create makes this attempt's Job. When the call is cut short by ctx, the
// Job may exist nonetheless: it is deleted by its attempt label.
func (j *Job) create(ctx context.Context) (*batchv1.Job, error) {
	attempt := rand.Text() // never fails; letters and digits, a valid label value
	jobs := j.Client.BatchV1().Jobs(j.namespace())
	created, err := jobs.Create(ctx, j.build(attempt), metav1.CreateOptions{})
	if err != nil && ctx.Err() != nil {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		_ = jobs.DeleteCollection(cctx, backgroundDelete(), metav1.ListOptions{LabelSelector: LabelAttempt + "=" + attempt})
	}
	return created, err
}

// build makes a Job from the template: its spec, labels and annotations,
// with the selector the API server generates.
func (j *Job) build(attempt string) *batchv1.Job {
	t := j.Template.DeepCopy()
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: baseName(t) + "-",
			Namespace:    j.namespace(),
			Labels:       t.Labels,
			Annotations:  t.Annotations,
		},
		Spec: t.Spec,
	}
	if job.Labels == nil {
		job.Labels = map[string]string{}
	}
	for k, v := range j.Labels {
		job.Labels[k] = v
	}
	job.Labels[LabelManagedBy] = ManagedBy
	job.Labels[LabelAttempt] = attempt
	if job.Spec.BackoffLimit == nil && job.Spec.BackoffLimitPerIndex == nil {
		job.Spec.BackoffLimit = new(int32)
	}
	// A template read back from a cluster carries its old Job's selector.
	job.Spec.Selector = nil
	for _, k := range []string{"controller-uid", "job-name", batchv1.ControllerUidLabel, batchv1.JobNameLabel} {
		delete(job.Spec.Template.Labels, k)
	}
	return job
}

// errWatchExpired says the watch fell too far behind to resume.
var errWatchExpired = errors.New("watch expired")

// await watches job from its creation until it is Complete or Failed,
// ctx ends or the Job goes away.
func (j *Job) await(ctx context.Context, job *batchv1.Job) (*batchv1.Job, error) {
	jobs := j.Client.BatchV1().Jobs(job.Namespace)
	for !jobFinished(job) {
		next, err := j.watchJob(ctx, job)
		if !errors.Is(err, errWatchExpired) {
			return next, err
		}
		// Start over from the Job as it is now.
		if job, err = jobs.Get(ctx, job.Name, metav1.GetOptions{}); err != nil {
			return nil, err
		}
	}
	return job, nil
}

// watchJob watches one Job from job's resource version, through lost
// connections, until it is finished.
func (j *Job) watchJob(ctx context.Context, job *batchv1.Job) (*batchv1.Job, error) {
	selector := fields.OneTermEqualSelector("metadata.name", job.Name).String()
	lw := &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = selector
			return j.Client.BatchV1().Jobs(job.Namespace).Watch(ctx, o)
		},
	}
	w, err := watchtools.NewRetryWatcherWithContext(ctx, job.ResourceVersion, lw)
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil, errWatchExpired
			}
			if done, next, err := jobEvent(ev); done {
				return next, err
			}
		}
	}
}

// jobEvent judges one watch event: done with the finished Job, or with an
// error.
func jobEvent(ev watch.Event) (bool, *batchv1.Job, error) {
	switch ev.Type {
	case watch.Added, watch.Modified:
		job, ok := ev.Object.(*batchv1.Job)
		return ok && jobFinished(job), job, nil
	case watch.Deleted:
		return true, nil, errors.New("job deleted before it finished")
	case watch.Error:
		err := apierrors.FromObject(ev.Object)
		if status, ok := err.(apierrors.APIStatus); ok && status.Status().Code == http.StatusGone {
			return true, nil, errWatchExpired
		}
		return true, nil, fmt.Errorf("watch: %w", err)
	}
	return false, nil, nil
}

func jobFinished(job *batchv1.Job) bool {
	return jobCondition(job, batchv1.JobComplete) || jobCondition(job, batchv1.JobFailed)
}

func jobCondition(job *batchv1.Job, t batchv1.JobConditionType) bool {
	return findJobCondition(job, t) != nil
}

func findJobCondition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i, c := range job.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return &job.Status.Conditions[i]
		}
	}
	return nil
}

// failure describes a Failed Job: "job NAME failed (REASON): pod ...".
func (j *Job) failure(ctx context.Context, job *batchv1.Job) string {
	head := "job " + job.Name + " failed"
	if c := findJobCondition(job, batchv1.JobFailed); c != nil && c.Reason != "" {
		head += " (" + c.Reason + ")"
	}
	return oneLine(head+": "+j.report(ctx, job), maxJobDetail)
}

// timeout describes a Job the attempt's deadline cut short.
func (j *Job) timeout(ctx context.Context, start time.Time, job *batchv1.Job) string {
	head := stoppedAfter(ctx, ctx.Err(), start) + " waiting for job " + job.Name
	return oneLine(head+": "+j.report(ctx, job), maxJobDetail)
}

// delete removes a Job and, in the background, its pods, with a context of
// its own so that it happens also after ctx ended.
func (j *Job) delete(ctx context.Context, name string) error {
	ctx, cancel := cleanupContext(ctx)
	defer cancel()
	err := j.Client.BatchV1().Jobs(j.namespace()).Delete(ctx, name, backgroundDelete())
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// cleanupContext is a short context that outlives ctx's cancellation but
// keeps its values.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

func backgroundDelete() metav1.DeleteOptions {
	p := metav1.DeletePropagationBackground
	return metav1.DeleteOptions{PropagationPolicy: &p}
}

// apiDetail shortens an API error for a Detail.
func apiDetail(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	return oneLine(err.Error(), maxMessage)
}

// podReport is what a failed attempt learnt about one pod.
type podReport struct {
	pod     string
	summary string // short: status, and the last log line or event
	text    string // for OnLogs: the logs, or the status and events
}

// report looks into the pods of a Job that failed or ran out of time,
// passes what it finds to OnLogs and returns a short summary of the newest
// failed pod, or of the Job's events when it has no pods.
func (j *Job) report(ctx context.Context, job *batchv1.Job) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reportTimeout)
	defer cancel()
	pods, err := j.jobPods(ctx, job)
	if err != nil {
		return "pods: " + apiDetail(err)
	}
	if len(pods) == 0 {
		return "no pods" + lastEvent(j.events(ctx, job.UID))
	}
	reports := make([]podReport, 0, len(pods))
	for i := range pods {
		reports = append(reports, j.podReport(ctx, &pods[i]))
	}
	if j.OnLogs != nil {
		for _, r := range reports {
			j.OnLogs(r.pod, r.text)
		}
	}
	first := reports[0]
	summary := "pod " + first.pod + ": " + first.summary
	if len(pods) > 1 {
		summary += fmt.Sprintf(" (%d pods)", len(pods))
	}
	return summary
}

// jobPods lists the Job's pods, failed ones first, newest first, at most
// maxPodsReport.
func (j *Job) jobPods(ctx context.Context, job *batchv1.Job) ([]corev1.Pod, error) {
	sel := labels.Set{batchv1.ControllerUidLabel: string(job.UID)}.String()
	if job.Spec.Selector != nil {
		s, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
		if err != nil {
			return nil, err
		}
		sel = s.String()
	}
	list, err := j.Client.CoreV1().Pods(job.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, err
	}
	pods := list.Items
	slices.SortStableFunc(pods, func(a, b corev1.Pod) int {
		if fa, fb := a.Status.Phase == corev1.PodFailed, b.Status.Phase == corev1.PodFailed; fa != fb {
			if fa {
				return -1
			}
			return 1
		}
		return b.CreationTimestamp.Compare(a.CreationTimestamp.Time)
	})
	return pods[:min(len(pods), maxPodsReport)], nil
}

// podReport reads a pod's logs or, when they cannot be read, its events.
func (j *Job) podReport(ctx context.Context, pod *corev1.Pod) podReport {
	status := podStatus(pod)
	logs, err := j.podLogs(ctx, pod)
	if err == nil {
		summary := status
		if tail := tailLines(logs, 1); tail != "" {
			summary += "; log: " + tail
		}
		return podReport{pod: pod.Name, summary: summary, text: logs}
	}
	events := j.events(ctx, pod.UID)
	text := fmt.Sprintf("logs unavailable: %s\nstatus: %s\n%s", apiDetail(err), status, formatEvents(events))
	return podReport{pod: pod.Name, summary: status + lastEvent(events), text: text}
}

// podLogs reads the tail of the logs of each container of pod that
// started, with a header per container when there are several.
func (j *Job) podLogs(ctx context.Context, pod *corev1.Pod) (string, error) {
	names := startedContainers(pod)
	if len(names) == 0 {
		return "", errors.New("no container started")
	}
	var b strings.Builder
	for _, name := range names {
		raw, err := j.Client.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{
			Container: name, TailLines: new(j.tailLines()), LimitBytes: new(int64(maxLogBytes)),
		}).DoRaw(ctx)
		if err != nil {
			return "", fmt.Errorf("container %s: %w", name, err)
		}
		if len(names) > 1 {
			fmt.Fprintf(&b, "==> container %s <==\n", name)
		}
		b.Write(raw)
		if len(names) > 1 && len(raw) > 0 && raw[len(raw)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	return b.String(), nil
}

func (j *Job) tailLines() int64 {
	if j.TailLines <= 0 {
		return DefaultTailLines
	}
	return j.TailLines
}

// startedContainers lists the init and app containers of pod that ran, in
// order.
func startedContainers(pod *corev1.Pod) []string {
	var names []string
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, s := range list {
			if s.State.Running != nil || s.State.Terminated != nil || s.LastTerminationState.Terminated != nil {
				names = append(names, s.Name)
			}
		}
	}
	return names
}

// podStatus is a pod's phase and what its containers say: "Failed,
// container test exit 1 (Error)", "Pending, container test waiting
// (ImagePullBackOff)".
func podStatus(pod *corev1.Pod) string {
	parts := []string{string(pod.Status.Phase)}
	if pod.Status.Reason != "" {
		parts = append(parts, pod.Status.Reason)
	}
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, s := range list {
			if d := containerState(s); d != "" {
				parts = append(parts, "container "+s.Name+" "+d)
			}
		}
	}
	if len(parts) == 1 {
		if c := unscheduled(pod); c != "" {
			parts = append(parts, c)
		}
	}
	return strings.Join(parts, ", ")
}

// containerState describes a container that failed or waits, or "".
func containerState(s corev1.ContainerStatus) string {
	switch st := s.State; {
	case st.Terminated != nil && st.Terminated.ExitCode != 0:
		return fmt.Sprintf("exit %d (%s)", st.Terminated.ExitCode, st.Terminated.Reason)
	case st.Waiting != nil && st.Waiting.Reason != "":
		return "waiting (" + st.Waiting.Reason + ")"
	}
	return ""
}

func unscheduled(pod *corev1.Pod) string {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return "unscheduled (" + c.Reason + ")"
		}
	}
	return ""
}

// events lists the latest events about one object, oldest first, or none
// when they cannot be read: they only embellish a report.
func (j *Job) events(ctx context.Context, uid types.UID) []corev1.Event {
	sel := fields.OneTermEqualSelector("involvedObject.uid", string(uid)).String()
	list, err := j.Client.CoreV1().Events(j.namespace()).List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return nil
	}
	events := list.Items
	slices.SortStableFunc(events, func(a, b corev1.Event) int { return eventTime(a).Compare(eventTime(b)) })
	return events[max(0, len(events)-maxEventsShown):]
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

func formatEvents(events []corev1.Event) string {
	if len(events) == 0 {
		return "events: none"
	}
	var b strings.Builder
	b.WriteString("events:\n")
	for _, e := range events {
		fmt.Fprintf(&b, "  %s %s: %s", e.Type, e.Reason, oneLine(e.Message, maxMessage))
		if e.Count > 1 {
			fmt.Fprintf(&b, " (x%d)", e.Count)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// lastEvent is "; event REASON: MESSAGE" for the latest warning, or "".
func lastEvent(events []corev1.Event) string {
	for _, e := range slices.Backward(events) {
		if e.Type == corev1.EventTypeWarning {
			return "; event " + e.Reason + ": " + oneLine(e.Message, maxMessage)
		}
	}
	return ""
}

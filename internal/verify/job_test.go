package verify

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"sigs.k8s.io/yaml"

	"github.com/cutover/cutover/internal/testinfra/testbed"
)

const smokeJob = `
apiVersion: batch/v1
kind: Job
metadata:
  name: smoke
  labels: {team: web}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: test
        image: smoke:1
`

// manifest decodes YAML and applies edits to it, "path.to.field" = value,
// nil to remove.
func manifest(t *testing.T, src string, edits map[string]any) *unstructured.Unstructured {
	t.Helper()
	obj := map[string]any{}
	if err := yaml.Unmarshal([]byte(src), &obj); err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: obj}
	for path, v := range edits {
		fields := strings.Split(path, ".")
		if v == nil {
			unstructured.RemoveNestedField(u.Object, fields...)
			continue
		}
		if err := unstructured.SetNestedField(u.Object, v, fields...); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

func TestJobFromManifest(t *testing.T) {
	cases := []struct {
		name  string
		edits map[string]any
		err   string // empty: valid
	}{
		{name: "valid"},
		{name: "generateName instead of name", edits: map[string]any{"metadata.name": nil, "metadata.generateName": "smoke-"}},
		{name: "OnFailure", edits: map[string]any{"spec.template.spec.restartPolicy": "OnFailure"}},
		{name: "wrong kind", edits: map[string]any{"kind": "CronJob"},
			err: `job manifest smoke: apiVersion "batch/v1", kind "CronJob": want apiVersion batch/v1, kind Job`},
		{name: "wrong version", edits: map[string]any{"apiVersion": "batch/v1beta1"},
			err: `job manifest smoke: apiVersion "batch/v1beta1", kind "Job": want apiVersion batch/v1, kind Job`},
		{name: "unknown field", edits: map[string]any{"spec.tempalte": map[string]any{}},
			err: `job manifest smoke: strict decoding error: unknown field "spec.tempalte"`},
		{name: "unknown nested field", edits: map[string]any{"spec.template.spec.containers": []any{map[string]any{"name": "t", "imagee": "x"}}},
			err: `job manifest smoke: strict decoding error: unknown field "spec.template.spec.containers[0].imagee"`},
		{name: "wrong type", edits: map[string]any{"spec.backoffLimit": "three"},
			err: `job manifest smoke: json: cannot unmarshal string into Go struct field JobSpec.spec.backoffLimit of type int32`},
		{name: "no name", edits: map[string]any{"metadata.name": nil},
			err: "job manifest (unnamed): metadata.name is required: it prefixes the name of every Job created"},
		{name: "name too long", edits: map[string]any{"metadata.name": strings.Repeat("a", 58)},
			err: `job manifest aaaa*: metadata.name "aaaa*": at most 57 characters, to leave room for the random suffix`},
		{name: "no containers", edits: map[string]any{"spec.template.spec.containers": nil},
			err: "job manifest smoke: spec.template.spec.containers: at least one container is required"},
		{name: "restartPolicy unset", edits: map[string]any{"spec.template.spec.restartPolicy": nil},
			err: `job manifest smoke: spec.template.spec.restartPolicy "": must be Never or OnFailure`},
		{name: "restartPolicy Always", edits: map[string]any{"spec.template.spec.restartPolicy": "Always"},
			err: `job manifest smoke: spec.template.spec.restartPolicy "Always": must be Never or OnFailure`},
		{name: "suspended", edits: map[string]any{"spec.suspend": true},
			err: "job manifest smoke: spec.suspend: a suspended Job would never run"},
		{name: "manual selector", edits: map[string]any{"spec.manualSelector": true},
			err: "job manifest smoke: spec.manualSelector: not supported, each attempt's Job selects its own pods"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job, err := JobFromManifest(manifest(t, smokeJob, tc.edits))
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("JobFromManifest: %v", err)
			case tc.err == "" && (baseName(job) != "smoke" || job.Spec.Template.Spec.Containers[0].Image != "smoke:1"):
				t.Errorf("JobFromManifest = %+v", job)
			case tc.err != "" && (err == nil || !wildcard(err.Error(), tc.err)):
				t.Errorf("JobFromManifest error = %v, want %q", err, tc.err)
			}
		})
	}
	if _, err := JobFromManifest(nil); err == nil {
		t.Error("JobFromManifest(nil): no error")
	}
}

// wildcard matches s against a pattern where "*" stands for any text.
func wildcard(s, pattern string) bool {
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(s, p)
		}
		j := strings.Index(s, p)
		if j < 0 {
			return false
		}
		s = s[j+len(p):]
	}
	return s == ""
}

// TestJobBuild checks the Job an attempt creates from a template read back
// from a cluster: identity, status and the old selector go, labels and the
// spec stay.
func TestJobBuild(t *testing.T) {
	template, err := JobFromManifest(manifest(t, smokeJob, map[string]any{
		"metadata.namespace":       "ci",
		"metadata.uid":             "1234",
		"metadata.resourceVersion": "99",
		"metadata.annotations":     map[string]any{"note": "kept"},
		"spec.selector":            map[string]any{"matchLabels": map[string]any{"batch.kubernetes.io/controller-uid": "1234"}},
		"spec.template.metadata": map[string]any{"labels": map[string]any{
			"batch.kubernetes.io/controller-uid": "1234", "controller-uid": "1234",
			"batch.kubernetes.io/job-name": "smoke", "job-name": "smoke", "app": "smoke-test",
		}},
		"status": map[string]any{"failed": int64(1)},
	}))
	if err != nil {
		t.Fatal(err)
	}
	j := &Job{Template: template, Labels: map[string]string{"cutover.dev/app": "web", "team": "platform"}}
	job := j.build("abc")
	if job.Name != "" || job.GenerateName != "smoke-" || job.Namespace != "ci" || job.UID != "" || job.ResourceVersion != "" {
		t.Errorf("metadata = %+v", job.ObjectMeta)
	}
	wantLabels := map[string]string{"team": "platform", "cutover.dev/app": "web", LabelManagedBy: ManagedBy, LabelAttempt: "abc"}
	if !mapsEqual(job.Labels, wantLabels) || job.Annotations["note"] != "kept" {
		t.Errorf("labels = %v, annotations = %v", job.Labels, job.Annotations)
	}
	if !mapsEqual(job.Spec.Template.Labels, map[string]string{"app": "smoke-test"}) || job.Spec.Selector != nil {
		t.Errorf("pod labels = %v, selector = %v; want the old Job's selector gone", job.Spec.Template.Labels, job.Spec.Selector)
	}
	if job.Spec.BackoffLimit == nil || *job.Spec.BackoffLimit != 0 || job.Status.Failed != 0 {
		t.Errorf("backoffLimit = %v, status = %+v", job.Spec.BackoffLimit, job.Status)
	}
	if template.Labels["cutover.dev/app"] != "" || template.Spec.BackoffLimit != nil || template.Spec.Selector == nil {
		t.Error("build changed the template")
	}

	template.Spec.BackoffLimit = new(int32(2))
	if got := *j.build("abc").Spec.BackoffLimit; got != 2 {
		t.Errorf("backoffLimit = %d, want the template's 2", got)
	}
	template.Spec.BackoffLimit, template.Spec.BackoffLimitPerIndex = nil, new(int32(1))
	if got := j.build("abc").Spec.BackoffLimit; got != nil {
		t.Errorf("backoffLimit = %d, want unset beside backoffLimitPerIndex", *got)
	}
	j.Namespace = "prod"
	if got := j.build("abc").Namespace; got != "prod" {
		t.Errorf("namespace = %q, want Namespace's over the template's", got)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestJobNameAndValidate(t *testing.T) {
	template := jobTemplate("smoke", testbed.PodBehavior{})
	client := &kubernetes.Clientset{} // never called
	cases := []struct {
		check Job
		name  string
		err   string
	}{
		{check: Job{Client: client, Namespace: "web", Template: template}, name: "job web/smoke"},
		{check: Job{Client: client, Namespace: "web", Template: template, Label: "integration tests"}, name: "integration tests"},
		{check: Job{Namespace: "web", Template: template}, name: "job web/smoke", err: "job: no client"},
		{check: Job{Client: client, Namespace: "web"}, name: "job (no template)", err: "job: no template"},
		{check: Job{Client: client, Template: template}, name: "job /smoke", err: "job: no namespace"},
		{check: Job{Client: client, Namespace: "web", Template: &batchv1.Job{}}, name: "job web/",
			err: "job template: metadata.name is required: it prefixes the name of every Job created"},
	}
	for _, tc := range cases {
		if got := tc.check.Name(); got != tc.name {
			t.Errorf("Name() = %q, want %q", got, tc.name)
		}
		err := tc.check.Validate()
		if (err == nil) != (tc.err == "") || (err != nil && err.Error() != tc.err) {
			t.Errorf("Validate() = %v, want %q", err, tc.err)
		}
		if tc.err != "" {
			if r := tc.check.Probe(context.Background()); r.OK || r.Detail != tc.err {
				t.Errorf("Probe = %+v, want the validation error", r)
			}
		}
	}
}

// TestJobCreateCutShort checks that a Job whose create call ended with the
// attempt, but which the API server made, is deleted by its attempt label.
func TestJobCreateCutShort(t *testing.T) {
	client := fake.NewClientset()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var created *batchv1.Job
	client.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		created = a.(k8stesting.CreateAction).GetObject().(*batchv1.Job).DeepCopy()
		created.Name = created.GenerateName + "x1y2z"
		if err := client.Tracker().Create(batchv1.SchemeGroupVersion.WithResource("jobs"), created, created.Namespace); err != nil {
			return true, nil, err
		}
		cancel() // the caller gives up as the server answers
		return true, nil, context.Canceled
	})
	var selector string
	client.PrependReactor("delete-collection", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		selector = a.(k8stesting.DeleteCollectionAction).GetListRestrictions().Labels.String()
		return true, nil, nil
	})
	j := &Job{Client: client, Namespace: "web", Template: jobTemplate("smoke", testbed.PodBehavior{})}
	r := j.Probe(ctx)
	if r.OK || !strings.HasPrefix(r.Detail, "create job: ") {
		t.Errorf("Probe = %+v, want a create error", r)
	}
	if created == nil || selector != LabelAttempt+"="+created.Labels[LabelAttempt] || created.Labels[LabelAttempt] == "" {
		t.Errorf("delete-collection selector %q, want the attempt label of %v", selector, created.Labels)
	}
}

func TestJobEvent(t *testing.T) {
	running := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "smoke-1"}}
	complete := running.DeepCopy()
	complete.Status.Conditions = []batchv1.JobCondition{
		{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue},
		{Type: batchv1.JobComplete, Status: corev1.ConditionTrue},
	}
	notYet := running.DeepCopy()
	notYet.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionFalse}}
	gone := apierrors.NewResourceExpired("too old resource version: 1 (5)").Status()
	forbidden := apierrors.NewForbidden(batchv1.Resource("jobs"), "", errors.New("no watch")).Status()
	cases := []struct {
		name string
		ev   watch.Event
		done bool
		err  string
	}{
		{name: "added, running", ev: watch.Event{Type: watch.Added, Object: running}},
		{name: "modified, condition false", ev: watch.Event{Type: watch.Modified, Object: notYet}},
		{name: "modified, complete", ev: watch.Event{Type: watch.Modified, Object: complete}, done: true},
		{name: "deleted", ev: watch.Event{Type: watch.Deleted, Object: running}, done: true, err: "job deleted before it finished"},
		{name: "expired", ev: watch.Event{Type: watch.Error, Object: &gone}, done: true, err: errWatchExpired.Error()},
		{name: "forbidden", ev: watch.Event{Type: watch.Error, Object: &forbidden}, done: true, err: "watch: jobs.batch is forbidden: no watch"},
	}
	for _, tc := range cases {
		done, job, err := jobEvent(tc.ev)
		if done != tc.done || (err == nil) != (tc.err == "") || (err != nil && err.Error() != tc.err) {
			t.Errorf("%s: jobEvent = %v, %v, want %v, %q", tc.name, done, err, tc.done, tc.err)
		}
		if done && err == nil && job != complete {
			t.Errorf("%s: jobEvent returned %v, want the event's Job", tc.name, job)
		}
	}
}

// TestJobAwaitResyncs checks that a watch too far behind to resume falls
// back to reading the Job and watching again from there.
func TestJobAwaitResyncs(t *testing.T) {
	job := jobTemplate("smoke", testbed.PodBehavior{})
	job.Name, job.Namespace, job.ResourceVersion = "smoke-1", "web", "5"
	done := job.DeepCopy()
	done.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded"}}
	client := fake.NewClientset(done)
	watches := 0
	client.PrependWatchReactor("jobs", func(k8stesting.Action) (bool, watch.Interface, error) {
		watches++
		w := watch.NewFake()
		gone := apierrors.NewResourceExpired("too old resource version").Status()
		go w.Error(&gone)
		return true, w, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := (&Job{Client: client}).await(ctx, job)
	if err != nil || !jobCondition(got, batchv1.JobFailed) || watches != 1 {
		t.Errorf("await = %v, %v after %d watches; want the failed Job after one", got, err, watches)
	}
}

// TestJobReportWithLogs checks the report of a failed Job whose pods' logs
// can be read, which kwok cannot show: the fake client serves "fake logs".
func TestJobReportWithLogs(t *testing.T) {
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "smoke-1", Namespace: "web", UID: "u1"}}
	pod := func(name string, age time.Duration, phase corev1.PodPhase, statuses ...corev1.ContainerStatus) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "web", UID: types.UID(name),
				CreationTimestamp: metav1.NewTime(time.Now().Add(-age)),
				Labels:            map[string]string{batchv1.ControllerUidLabel: "u1"}},
			Status: corev1.PodStatus{Phase: phase, ContainerStatuses: statuses},
		}
	}
	exited := func(name string, code int32) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: "Error"}}}
	}
	client := fake.NewClientset(
		pod("smoke-1-old", time.Hour, corev1.PodFailed, exited("test", 2)),
		pod("smoke-1-new", time.Minute, corev1.PodFailed, exited("test", 1), exited("proxy", 0)),
		pod("smoke-1-pending", 0, corev1.PodPending, corev1.ContainerStatus{Name: "test",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}}),
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "web"}},
	)
	var logs podLogs
	j := &Job{Client: client, Namespace: "web", OnLogs: logs.record}
	got := j.report(context.Background(), job)
	if want := "pod smoke-1-new: Failed, container test exit 1 (Error); log: fake logs (3 pods)"; got != want {
		t.Errorf("report = %q, want %q", got, want)
	}
	want := map[string]string{
		"smoke-1-new":     "==> container test <==\nfake logs\n==> container proxy <==\nfake logs\n",
		"smoke-1-old":     "fake logs",
		"smoke-1-pending": "logs unavailable: no container started\nstatus: Pending, container test waiting (ImagePullBackOff)\nevents: none",
	}
	if !mapsEqual(logs.logs, want) {
		t.Errorf("OnLogs got %q,\nwant %q", logs.logs, want)
	}

	if got := j.report(context.Background(), &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "web", UID: "u2"}}); got != "no pods" {
		t.Errorf("report of a Job without pods = %q", got)
	}
}

// The tests below run Jobs on the test bed, where kwok plays the kubelet.

func jobTemplate(name string, b testbed.PodBehavior) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Annotations: b.Annotations()},
			Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "test", Image: "smoke:1"}},
			},
		}},
	}
}

// podLogs records OnLogs calls.
type podLogs struct {
	mu   sync.Mutex
	logs map[string]string
}

func (p *podLogs) record(pod, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.logs == nil {
		p.logs = map[string]string{}
	}
	p.logs[pod] = text
}

func TestJobPasses(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	client, proxy := countingClient(t)
	var logs podLogs
	j := &Job{Client: client, Namespace: ns, Template: jobTemplate("smoke", testbed.PodBehavior{CompleteAfter: 2 * time.Second}),
		Labels: map[string]string{"cutover.dev/app": "web"}, OnLogs: logs.record}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := j.Probe(ctx)
	if !r.OK || !wildcard(r.Detail, "job smoke-* complete") {
		t.Errorf("Probe = %+v, want complete", r)
	}
	// Two seconds of waiting cost one watch: no polling.
	if got := proxy.Breakdown(); got != "DELETE 1, POST 1, WATCH 1" {
		t.Errorf("requests: %s, want DELETE 1, POST 1, WATCH 1", got)
	}
	if len(logs.logs) != 0 {
		t.Errorf("OnLogs called for a passing Job: %v", logs.logs)
	}
	assertJobsGone(t, ns)
}

func TestJobFails(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	var logs podLogs
	j := &Job{Client: cluster.Client, Namespace: ns, Template: jobTemplate("smoke", testbed.PodBehavior{Behavior: testbed.Fail}), OnLogs: logs.record}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := j.Probe(ctx)
	t.Logf("detail: %s", r.Detail)
	if r.OK || !wildcard(r.Detail, "job smoke-* failed (BackoffLimitExceeded): pod smoke-*-*: Failed, container test exit 1 (Error)*") {
		t.Errorf("Probe = %+v, want a failure naming the pod and its exit", r)
	}
	if len(logs.logs) != 1 {
		t.Fatalf("OnLogs calls: %v, want one for the one pod", logs.logs)
	}
	for pod, text := range logs.logs {
		t.Logf("OnLogs(%s):\n%s", pod, text)
		if !strings.Contains(r.Detail, "pod "+pod+":") {
			t.Errorf("OnLogs pod %q is not the Detail's", pod)
		}
		if text == "" {
			t.Error("OnLogs text empty")
		}
	}
	assertJobsGone(t, ns)
}

// TestJobTimeout checks an attempt that runs out of time: it says so with
// the pod's state, and the Job goes.
func TestJobTimeout(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	var logs podLogs
	j := &Job{Client: cluster.Client, Namespace: ns, Template: jobTemplate("slow", testbed.PodBehavior{CompleteAfter: time.Minute}), OnLogs: logs.record}
	var attempts []Attempt
	err := Run(context.Background(), j, Policy{Attempts: 1, Timeout: 3 * time.Second}, func(a Attempt) { attempts = append(attempts, a) })
	if !errors.Is(err, ErrCheckFailed) || len(attempts) != 1 {
		t.Fatalf("Run = %v, attempts %+v", err, attempts)
	}
	d := attempts[0].Result.Detail
	t.Logf("detail: %s", d)
	if !wildcard(d, "timed out after 3s waiting for job slow-*: pod slow-*-*: Running*") {
		t.Errorf("Detail = %q, want a time-out with the pod's state", d)
	}
	if len(logs.logs) != 1 {
		t.Errorf("OnLogs calls: %v, want one", logs.logs)
	}
	assertJobsGone(t, ns)
}

// TestJobCanceled checks that a Job is deleted when the attempt is
// cancelled while it runs.
func TestJobCanceled(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	j := &Job{Client: cluster.Client, Namespace: ns, Template: jobTemplate("slow", testbed.PodBehavior{CompleteAfter: time.Minute})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // cancel once the Job's pod runs
		waitPodRunning(t, ns)
		cancel()
	}()
	r := j.Probe(ctx)
	if r.OK || !wildcard(r.Detail, "job slow-*: canceled after *") {
		t.Errorf("Probe = %+v, want canceled", r)
	}
	assertJobsGone(t, ns)
}

// TestJobUnderRun checks a Job check with more than one attempt: each
// attempt runs a Job of its own, and every one is deleted.
func TestJobUnderRun(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	client, proxy := countingClient(t)
	j := &Job{Client: client, Namespace: ns, Template: jobTemplate("smoke", testbed.PodBehavior{Behavior: testbed.Fail})}
	var names []string
	err := Run(context.Background(), j, Policy{Attempts: 2, Interval: 10 * time.Millisecond, Timeout: 30 * time.Second},
		func(a Attempt) { names = append(names, strings.Fields(a.Result.Detail)[1]) })
	if !errors.Is(err, ErrCheckFailed) || len(names) != 2 || names[0] == names[1] {
		t.Errorf("Run = %v; Jobs %v, want two failed attempts on two Jobs", err, names)
	}
	if got := proxy.Breakdown(); !strings.Contains(got, "DELETE 2, ") || !strings.Contains(got, "POST 2, WATCH 2") {
		t.Errorf("requests: %s, want two creates, watches and deletes", got)
	}
	assertJobsGone(t, ns)
}

// countingClient returns a client whose requests a proxy counts.
func countingClient(t *testing.T) (kubernetes.Interface, *testbed.CountingProxy) {
	t.Helper()
	p, err := cluster.StartCountingProxy(strings.ReplaceAll(t.Name(), "/", "_"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	client, err := p.Client()
	if err != nil {
		t.Fatal(err)
	}
	return client, p
}

// assertJobsGone checks that no Job is left in ns, and waits for the
// garbage collector to remove their pods.
func assertJobsGone(t *testing.T, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	jobs, err := cluster.Client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, job := range jobs.Items {
		t.Errorf("job %s left behind", job.Name)
	}
	var store cache.Store
	lw := cache.NewListWatchFromClient(cluster.Client.CoreV1().RESTClient(), "pods", ns, fields.Everything())
	_, err = watchtools.UntilWithSync(ctx, lw, &corev1.Pod{},
		func(s cache.Store) (bool, error) { store = s; return len(s.List()) == 0, nil },
		func(watch.Event) (bool, error) { return len(store.List()) == 0, nil })
	if err != nil {
		t.Errorf("pods left behind: %v", err)
	}
}

// waitPodRunning waits until a pod in ns runs.
func waitPodRunning(t *testing.T, ns string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lw := cache.NewListWatchFromClient(cluster.Client.CoreV1().RESTClient(), "pods", ns, fields.Everything())
	_, err := watchtools.UntilWithSync(ctx, lw, &corev1.Pod{}, nil, func(e watch.Event) (bool, error) {
		pod, ok := e.Object.(*corev1.Pod)
		return ok && pod.Status.Phase == corev1.PodRunning, nil
	})
	if err != nil {
		t.Errorf("wait for a running pod: %v", err)
	}
}

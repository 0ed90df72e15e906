package drift_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/cutover/cutover/internal/drift"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/readiness"
	"github.com/cutover/cutover/internal/strategy"
)

// TestResyncEndsTheControllersBackOff reproduces, deterministically, the
// EndpointSlice controller's retry back-off that left production routed to
// gone pods for a minute after API server restarts (chaos seeds 136, 318):
// its writes for one Service are refused while it is made to fail ten
// times or more, so that its per-Service back-off grows past 8 minutes;
// then they are allowed again. The
// slices stay stale by themselves (the control half), until the Guard's
// resync, an update event on the Service, has the controller recompute
// them at once.
func TestResyncEndsTheControllersBackOff(t *testing.T) {
	ctx := testCtx(t, 2*time.Minute)
	ns := cluster.Namespace(t)
	c := clients(t, ns)
	deploy(t, ctx, c, "1", 1)
	v := view(t, ctx, c, ns)
	if _, err := agreement(ctx, v, 10*time.Second); err != nil {
		t.Fatalf("before the fault: %v", err)
	}

	lift := denyEndpointSliceWrites(t, ctx, ns)
	scale(t, ctx, c, ns, 2) // the controller's writes for the new pod are refused: each retry backs off further
	if err := waitDisagree(ctx, v, drift.Missing); err != nil {
		t.Fatal(err)
	}
	// Every update of the Service has the controller sync it at once,
	// outside the back-off, and fail again: after n failures its next
	// retry of its own is 2^(n-1) s away. The scale-up alone caused 3 or
	// more (one run: a retry 4 s after the last), so add enough.
	provokeFailures(t, ctx, c, ns, 7)
	lift()

	// Control: nothing but time would fix the slices now.
	if took, err := agreement(ctx, v, 4*time.Second); err == nil {
		t.Fatalf("the slices agreed %s after the writes were allowed again, by themselves: the back-off was not reproduced", took)
	}
	sink := &event.Collector{}
	g := drift.Start(ctx, drift.Options{Clients: c, View: v, Targets: []drift.Target{{Service: "web"}}, Grace: 500 * time.Millisecond, Sink: sink})
	took, err := agreement(ctx, v, 5*time.Second)
	episodes, stopErr := g.Stop(ctx)
	if err != nil {
		t.Fatalf("the guard did not bring the slices to agree: %v; events %v", err, sink.Events())
	}
	if stopErr != nil {
		t.Fatal(stopErr)
	}
	t.Logf("slices agreed %s after the guard started (grace 500ms)", took)
	if len(episodes) != 1 || episodes[0].Resyncs < 1 || episodes[0].Ended.IsZero() {
		t.Fatalf("episodes = %+v, want one ended with a resync", episodes)
	}
	// The resync comes at the grace period; the controller then takes
	// milliseconds. Its own next retry is more than 5 s away.
	if took > 1500*time.Millisecond {
		t.Errorf("agreement took %s after the guard started, want at once after its first resync at 500ms", took)
	}
	svc, err := c.Typed.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil || svc.Annotations[drift.ResyncAnnotation] == "" {
		t.Errorf("the Service carries no %s annotation: %v", drift.ResyncAnnotation, err)
	}
	msgs := warnings(sink, "Service/"+ns+"/web")
	if !anyContains(msgs, "is ready but not a ready endpoint") || !anyContains(msgs, "resync 1") || !anyContains(msgs, "agree with its pods again") {
		t.Errorf("warnings %q do not name the pod, the resync and the agreement", msgs)
	}
}

// deploy runs a rolling update of web at tag with replicas pods.
func deploy(t *testing.T, ctx context.Context, c *kube.Clients, tag string, replicas int) {
	t.Helper()
	r := strategy.NewRolling(c, strategy.RollingOptions{})
	if err := r.Run(ctx, app(t, tag, replicas, 200*time.Millisecond, 0)); err != nil {
		t.Fatalf("deploy %s: %v", tag, err)
	}
}

// provokeFailures updates the Service web n times, 300ms apart, while the
// controller's writes are refused: every update makes it sync the Service
// at once (this is what the Guard's resync relies on), fail, and back off
// twice as long.
func provokeFailures(t *testing.T, ctx context.Context, c *kube.Clients, ns string, n int) {
	t.Helper()
	for range n {
		if err := drift.Resync(ctx, c, ns, "web"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// agreement waits up to d until the Service web's endpoints agree with
// its pods, and says how long that took.
func agreement(ctx context.Context, v *readiness.View, d time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	began := time.Now()
	for {
		changed := v.Changed()
		ds := drift.Compare(v.Service("web"), v.EndpointSlices("web"), v.Pods(nil))
		if len(ds) == 0 && len(v.EndpointSlices("web")) > 0 {
			return time.Since(began), nil
		}
		select {
		case <-ctx.Done():
			return 0, errors.New("still disagree: " + drift.Describe(ds))
		case <-changed:
		}
	}
}

// waitDisagree waits until web has a disagreement of reason r.
func waitDisagree(ctx context.Context, v *readiness.View, r drift.Reason) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		changed := v.Changed()
		for _, d := range drift.Compare(v.Service("web"), v.EndpointSlices("web"), v.Pods(nil)) {
			if d.Reason == r {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return errors.New("no disagreement " + string(r) + " came")
		case <-changed:
		}
	}
}

func scale(t *testing.T, ctx context.Context, c *kube.Clients, ns string, n int) {
	t.Helper()
	patch := []byte(`{"spec":{"replicas":` + strconv.Itoa(n) + `}}`)
	if _, err := c.Typed.AppsV1().Deployments(ns).Patch(ctx, "web", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// denyEndpointSliceWrites refuses every write of an EndpointSlice in ns
// with a ValidatingAdmissionPolicy, and returns once the API server
// enforces it. lift allows them again.
func denyEndpointSliceWrites(t *testing.T, ctx context.Context, ns string) (lift func()) {
	t.Helper()
	adm := cluster.Client.AdmissionregistrationV1()
	name := "deny-endpointslices-" + ns
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionv1.Fail),
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update, admissionv1.Delete},
					Rule: admissionv1.Rule{APIGroups: []string{"discovery.k8s.io"}, APIVersions: []string{"v1"},
						Resources: []string{"endpointslices"}},
				}}}},
			Validations: []admissionv1.Validation{{Expression: "false", Message: "test: EndpointSlice writes refused"}},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: name,
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
			MatchResources: &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{corev1.LabelMetadataName: ns}}}},
	}
	if _, err := adm.ValidatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	lift = func() {
		_ = adm.ValidatingAdmissionPolicyBindings().Delete(context.Background(), name, metav1.DeleteOptions{})
		_ = adm.ValidatingAdmissionPolicies().Delete(context.Background(), name, metav1.DeleteOptions{})
		awaitPolicy(t, ctx, ns, false)
	}
	t.Cleanup(lift)
	awaitPolicy(t, ctx, ns, true)
	return lift
}

// awaitPolicy probes with a dry-run create until EndpointSlice writes in
// ns are refused (or allowed). A policy takes effect when the API server's
// policy informer has it; nothing can be watched for that moment.
func awaitPolicy(t *testing.T, ctx context.Context, ns string, refused bool) {
	t.Helper()
	probe := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-"}, AddressType: discoveryv1.AddressTypeIPv4}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		_, err := cluster.Client.DiscoveryV1().EndpointSlices(ns).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		denied := apierrors.IsInvalid(err) || apierrors.IsForbidden(err)
		if denied == refused && (denied || err == nil) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the admission policy never took effect (refused=%v)", refused)
}

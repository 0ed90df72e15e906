package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/cutover/cutover/internal/drift"
)

const webService = `---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
`

// endpointsFixture deploys web (3 replicas) behind Service web, and adds
// Service manual, without a selector, and Service stale, which selects
// web's pods but has, besides the controller's slices, a slice of another
// manager with a ready endpoint of a pod that does not exist: drift that
// no resync can mend.
func endpointsFixture(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	file := writeFile(t, "web.yaml", webApp+webService)
	if r := deployWeb(t, ns, file, "7", "ready", 60); r.code != exitOK {
		t.Fatalf("deploy exited %d", r.code)
	}
	port := []corev1.ServicePort{{Port: 80}}
	for name, sel := range map[string]map[string]string{"manual": nil, "stale": {"app": "web"}} {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{Selector: sel, Ports: port}}
		if _, err := cluster.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ghost := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "stale-ghost", Labels: map[string]string{
			discoveryv1.LabelServiceName: "stale", discoveryv1.LabelManagedBy: "cutover-e2e"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.99.99"},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "ghost"}}},
	}
	if _, err := cluster.Client.DiscoveryV1().EndpointSlices(ns).Create(ctx, ghost, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestEndpoints runs cutover endpoints against Services in agreement, in
// disagreement, without a selector and missing, with and without --resync.
// The cases run in order: the read-only ones before the resyncs.
func TestEndpoints(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	endpointsFixture(t, ns)
	tests := []struct {
		name  string
		args  []string
		code  int
		check func(t *testing.T, r result)
	}{
		{"in agreement", []string{"web"}, exitOK, stdoutHas("Service " + ns + "/web: 3 ready endpoints, 3 ready pods selected: in agreement\n")},
		{"json", []string{"web", "-o", "json"}, exitOK, endpointsJSON(ns, false)},
		{"no such service", []string{"nope"}, exitBadInput, stderrHas(`"nope" not found`, ns+"/nope")},
		{"no selector", []string{"manual", "--resync"}, exitOK, stdoutHas("managed by someone else")},
		{"disagree", []string{"stale"}, exitFailed, all(stdoutHas(": disagree:\n", "  pod ghost is gone but still a ready endpoint\n"),
			stderrHas("disagree"))},
		{"bad output", []string{"web", "-o", "yaml"}, exitUsage, stderrHas(`-o "yaml"`)},
		{"resync", []string{"web", "--resync"}, exitOK, all(resyncAnnotated(ns, "web"),
			stdoutHas("resynced: annotation "+drift.ResyncAnnotation+" set\n", "3 ready pods selected: in agreement after "))},
		{"resync json", []string{"web", "--resync", "-o", "json"}, exitOK, endpointsJSON(ns, true)},
		{"resync cannot mend", []string{"stale", "--resync", "--timeout", "2s"}, exitFailed, all(resyncAnnotated(ns, "stale"),
			stderrHas("endpoints still disagree with its pods 2s after the resync"), stdoutHas("pod ghost is gone"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cutover(t, ns, "", append([]string{"endpoints"}, tt.args...)...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d", r.code, tt.code)
			}
			tt.check(t, r)
		})
	}
}

func all(checks ...func(*testing.T, result)) func(*testing.T, result) {
	return func(t *testing.T, r result) {
		t.Helper()
		for _, c := range checks {
			c(t, r)
		}
	}
}

func stdoutHas(want ...string) func(*testing.T, result) {
	return func(t *testing.T, r result) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("stdout lacks %q", w)
			}
		}
	}
}

func stderrHas(want ...string) func(*testing.T, result) {
	return func(t *testing.T, r result) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("stderr lacks %q", w)
			}
		}
	}
}

// endpointsJSON checks -o json for Service web, in agreement with its 3
// replicas.
func endpointsJSON(ns string, resynced bool) func(*testing.T, result) {
	return func(t *testing.T, r result) {
		t.Helper()
		var got struct {
			Service, Namespace        string
			ReadyEndpoints, ReadyPods int
			Disagreements             []map[string]string
			Resynced                  bool
			AgreedAfterMs             *int64
		}
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("-o json is not one JSON object: %v", err)
		}
		if got.Service != "web" || got.Namespace != ns || got.ReadyEndpoints != 3 || got.ReadyPods != 3 {
			t.Errorf("got %+v, want service web in %s with 3 ready endpoints and 3 ready pods", got, ns)
		}
		if got.Disagreements == nil || len(got.Disagreements) != 0 {
			t.Errorf("disagreements %v, want []", got.Disagreements)
		}
		if got.Resynced != resynced || (got.AgreedAfterMs != nil) != resynced {
			t.Errorf("resynced %v, agreedAfterMs %v; want resynced %v and agreedAfterMs only then", got.Resynced, got.AgreedAfterMs, resynced)
		}
		if !strings.Contains(r.stdout, `"agreedAfterMs"`) {
			t.Error(`-o json lacks "agreedAfterMs"`)
		}
	}
}

// resyncAnnotated checks, on the cluster, that the Service carries a
// recent resync annotation written by the endpoint guard's field manager.
func resyncAnnotated(ns, name string) func(*testing.T, result) {
	return func(t *testing.T, _ result) {
		t.Helper()
		svc, err := cluster.Client.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		at, err := time.Parse(time.RFC3339Nano, svc.Annotations[drift.ResyncAnnotation])
		if err != nil || time.Since(at) > 3*time.Minute {
			t.Errorf("annotation %s = %q, want a recent time", drift.ResyncAnnotation, svc.Annotations[drift.ResyncAnnotation])
		}
		managers := []string{}
		for _, f := range svc.ManagedFields {
			managers = append(managers, f.Manager)
		}
		if !slices.Contains(managers, drift.FieldManager) {
			t.Errorf("field managers %v lack %s", managers, drift.FieldManager)
		}
	}
}

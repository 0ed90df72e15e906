package strategy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/cutover/cutover/internal/apply"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/hazard"
	"github.com/cutover/cutover/internal/hint"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/manifest"
)

// noFlag fails t when text names a command-line flag: the engine's words
// are read through every front end.
func noFlag(t *testing.T, text string) {
	t.Helper()
	if strings.Contains(text, "--") {
		t.Errorf("%q names a flag", text)
	}
}

func TestFailureHintsRollbackOff(t *testing.T) {
	cause := errors.New("rollout stuck")
	cases := []struct {
		name      string
		f         *Failure
		wantText  string
		wantHints []hint.Setting
	}{
		{"rollback off", &Failure{Cause: cause},
			"release failed: rollout stuck; not rolled back: rollback is off", []hint.Setting{hint.NoRollback}},
		{"rolled back", &Failure{Cause: cause, RolledBack: true, Restored: []string{"Deployment/ns/web"}},
			"release failed: rollout stuck; rolled back Deployment/ns/web", nil},
		{"nothing to roll back", &Failure{Cause: cause, RolledBack: true},
			"release failed: rollout stuck; nothing to roll back", nil},
		{"rollback failed", &Failure{Cause: cause, RollbackErr: errors.New("timeout")},
			"release failed: rollout stuck; rollback failed: timeout", nil},
		{"untouched", &Failure{Cause: cause, Untouched: true},
			"release failed: rollout stuck; production untouched", nil},
		{"a hinted cause", &Failure{Cause: hint.New(hint.Strict, "refused in strict mode")},
			"release failed: refused in strict mode; not rolled back: rollback is off", []hint.Setting{hint.Strict, hint.NoRollback}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.f.Error(); got != c.wantText {
				t.Errorf("text\n got %q\nwant %q", got, c.wantText)
			}
			if got := hint.Settings(c.f); !slices.Equal(got, c.wantHints) {
				t.Errorf("hints %q, want %q", got, c.wantHints)
			}
			if !errors.Is(c.f, c.f.Cause) {
				t.Error("the cause is not in the chain")
			}
		})
	}
}

func TestCheckScaleDownHints(t *testing.T) {
	cases := []struct {
		name      string
		strict    bool
		delay     time.Duration
		wantErr   []hint.Setting
		wantEvent []string
	}{
		{"long enough", false, 30 * time.Second, nil, nil},
		{"too soon, warned", false, time.Second, nil, []string{string(hint.ScaleDownDelay)}},
		{"too soon, strict", true, time.Second, []hint.Setting{hint.Strict, hint.ScaleDownDelay}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var col event.Collector
			b := &BlueGreen{runner: runner{sink: &col},
				opts: BlueGreenOptions{IdlePolicy: IdleScaleDown, ScaleDownDelay: c.delay, StrictHazards: c.strict}}
			err := b.checkScaleDown(env{active: "blue", target: "green"})
			if got := hint.Settings(err); !slices.Equal(got, c.wantErr) {
				t.Errorf("error %v hints %q, want %q", err, got, c.wantErr)
			}
			if err != nil {
				noFlag(t, err.Error())
				if !strings.HasPrefix(err.Error(), "zero-downtime hazards refused in strict mode: "+hazard.ScaleDownTooSoon+": ") {
					t.Errorf("error %q", err)
				}
			}
			var got []string
			for _, e := range col.Events() {
				noFlag(t, e.Message)
				got = append(got, e.Settings...)
			}
			if !slices.Equal(got, c.wantEvent) {
				t.Errorf("events hint %q, want %q", got, c.wantEvent)
			}
		})
	}
}

func TestCheckEnvHints(t *testing.T) {
	service := func(selector map[string]string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "web"}, Spec: corev1.ServiceSpec{Selector: selector}}
	}
	cases := []struct {
		name     string
		svc      *corev1.Service
		wantText string
		want     []hint.Setting
	}{
		{"no selector key", service(map[string]string{"app": "web"}),
			`production service prod/web has no selector key "role" (selector app=web); set the selector key`, []hint.Setting{hint.SelectorKey}},
		{"neither color", service(map[string]string{"role": "red"}),
			`production service prod/web selects role="red", which is neither of the colors "blue" and "green"; set the colors`, []hint.Setting{hint.Colors}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := &BlueGreen{runner: runner{c: &kube.Clients{Typed: fake.NewClientset(c.svc), Namespace: "prod"}, sink: event.Discard},
				opts: BlueGreenOptions{Service: "web", SelectorKey: "role", Colors: [2]string{"blue", "green"}}}
			_, err := b.checkEnv(context.Background())
			if err == nil || err.Error() != c.wantText {
				t.Fatalf("checkEnv\n got %v\nwant %s", err, c.wantText)
			}
			if got := hint.Settings(err); !slices.Equal(got, c.want) {
				t.Errorf("hints %q, want %q", got, c.want)
			}
		})
	}
}

func TestStrictHazardsHint(t *testing.T) {
	deployment := map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "web", "namespace": "prod"},
		"spec": map[string]any{"replicas": int64(3), "template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "web"}},
			"spec": map[string]any{"containers": []any{map[string]any{"name": "app", "image": "web:1"}}}}}}
	items := []*apply.Item{{Object: manifest.Object{Unstructured: &unstructured.Unstructured{Object: deployment},
		Source: manifest.Source{File: "web.yaml", Doc: 1}}, Namespace: "prod"}}
	services := []hazard.Service{{Namespace: "prod", Name: "web", Selector: map[string]string{"app": "web"}}}
	for _, strict := range []bool{false, true} {
		var col event.Collector
		err := runner{sink: &col}.checkHazards("Preflight", items, services, hazard.Options{}, strict)
		if got, want := hint.Settings(err), []hint.Setting(nil); strict {
			want = []hint.Setting{hint.Strict}
			if !slices.Equal(got, want) || !strings.HasPrefix(err.Error(), "zero-downtime hazards refused in strict mode: ") {
				t.Errorf("strict: %v hints %q, want %q", err, got, want)
			}
			noFlag(t, err.Error())
		} else if err != nil || len(col.Events()) == 0 {
			t.Errorf("not strict: %v, %d warnings", err, len(col.Events()))
		}
	}
}

func TestGuardNeedsHintTheGuard(t *testing.T) {
	for _, pause := range []bool{false, true} {
		needs := guardNeeds("prod", []string{"web"}, pause)
		if len(needs) == 0 {
			t.Fatal("no needs")
		}
		for _, n := range needs {
			noFlag(t, n.Why)
			if n.Setting != hint.EndpointGuard || !strings.HasSuffix(n.Why, "not needed with the endpoint guard off") {
				t.Errorf("pause %v: %s: setting %q, why %q", pause, n, n.Setting, n.Why)
			}
		}
	}
}

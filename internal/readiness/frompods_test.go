package readiness

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// podsWorld is a Deployment (image v2, 2 replicas) with an old ReplicaSet
// (v1) and a new one (v2), and the pods a test gives them.
type podsWorld struct {
	d    *appsv1.Deployment
	sets []*appsv1.ReplicaSet
}

func newPodsWorld() podsWorld {
	two := int32(2)
	tmpl := func(image string) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}}}
	}
	d := &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", UID: "dep"},
		Spec:       appsv1.DeploymentSpec{Replicas: &two, Template: tmpl("web:v2")}}
	rs := func(uid types.UID, image, hash string) *appsv1.ReplicaSet {
		t := tmpl(image)
		t.Labels[podTemplateHashLabel] = hash
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-" + hash, UID: uid, OwnerReferences: controlledBy("dep")},
			Spec: appsv1.ReplicaSetSpec{Template: t}}
	}
	return podsWorld{d: d, sets: []*appsv1.ReplicaSet{rs("old", "web:v1", "aaa"), rs("new", "web:v2", "bbb")}}
}

func controlledBy(uid types.UID) []metav1.OwnerReference {
	yes := true
	return []metav1.OwnerReference{{UID: uid, Controller: &yes}}
}

// pod is a pod of ReplicaSet rs: "ready", "unready" or "terminating".
func pod(name string, rs types.UID, state string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: controlledBy(rs)}}
	cond := corev1.ConditionFalse
	if state == "ready" || state == "terminating" {
		cond = corev1.ConditionTrue
	}
	if state == "terminating" {
		p.DeletionTimestamp = &metav1.Time{}
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: cond}}
	return p
}

func (w podsWorld) unstructured(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(w.d)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

func TestDoneFromPods(t *testing.T) {
	cases := []struct {
		name   string
		change func(*podsWorld)
		pods   []*corev1.Pod
		want   bool
		old    int64
	}{
		{"all new pods ready, no old pod", nil,
			[]*corev1.Pod{pod("n1", "new", "ready"), pod("n2", "new", "ready")}, true, 0},
		{"old pods terminating do not hold it back", nil,
			[]*corev1.Pod{pod("n1", "new", "ready"), pod("n2", "new", "ready"), pod("o1", "old", "terminating")}, true, 1},
		{"an old pod still running: two templates", nil,
			[]*corev1.Pod{pod("n1", "new", "ready"), pod("n2", "new", "ready"), pod("o1", "old", "ready")}, false, 0},
		{"a new pod not ready", nil,
			[]*corev1.Pod{pod("n1", "new", "ready"), pod("n2", "new", "unready")}, false, 0},
		{"fewer new pods than replicas", nil,
			[]*corev1.Pod{pod("n1", "new", "ready")}, false, 0},
		{"more new pods than replicas (scaling down)", nil,
			[]*corev1.Pod{pod("n1", "new", "ready"), pod("n2", "new", "ready"), pod("n3", "new", "ready")}, false, 0},
		{"a terminating new pod does not count", nil,
			[]*corev1.Pod{pod("n1", "new", "ready"), pod("n2", "new", "terminating")}, false, 0},
		{"pods of other owners are not the Deployment's", nil,
			[]*corev1.Pod{pod("n1", "new", "ready"), pod("n2", "new", "ready"), pod("x", "someone-else", "unready")}, true, 0},
		{"no ReplicaSet carries the template yet", func(w *podsWorld) { w.d.Spec.Template.Spec.Containers[0].Image = "web:v3" },
			[]*corev1.Pod{pod("n1", "new", "ready"), pod("n2", "new", "ready")}, false, 0},
		{"the template's ReplicaSet belongs to another Deployment", func(w *podsWorld) { w.sets[1].OwnerReferences = controlledBy("other") },
			[]*corev1.Pod{pod("n1", "new", "ready"), pod("n2", "new", "ready")}, false, 0},
		{"paused", func(w *podsWorld) { w.d.Spec.Paused = true },
			[]*corev1.Pod{pod("n1", "new", "ready"), pod("n2", "new", "ready")}, false, 0},
		{"minReadySeconds: availability takes time", func(w *podsWorld) { w.d.Spec.MinReadySeconds = 5 },
			[]*corev1.Pod{pod("n1", "new", "ready"), pod("n2", "new", "ready")}, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newPodsWorld()
			if tc.change != nil {
				tc.change(&w)
			}
			counts, done := doneFromPods(w.unstructured(t), w.sets, tc.pods)
			if done != tc.want {
				t.Fatalf("done = %v, want %v", done, tc.want)
			}
			if done && (counts.Updated != 2 || counts.Ready != 2 || counts.Desired != 2 || counts.Old != tc.old) {
				t.Errorf("counts %+v, want 2 of 2 ready, %d old", counts, tc.old)
			}
		})
	}
}

package drift

import (
	"context"
	"errors"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/cutover/cutover/internal/kube"
)

// TestPauseLeavesAPauseBySomeoneElse pauses a Deployment that someone
// else pauses between the Guard's read and its write: the write fails on
// the resourceVersion, the retry reads the Deployment paused, and the
// Guard leaves it as it is, without its mark, so that it never resumes a
// pause that is not its own.
func TestPauseLeavesAPauseBySomeoneElse(t *testing.T) {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", ResourceVersion: "1"}}
	cs := fake.NewClientset(d)
	raced := false
	cs.PrependReactor("patch", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		if raced {
			return false, nil, nil
		}
		raced = true
		other := d.DeepCopy()
		other.Spec.Paused, other.ResourceVersion = true, "2"
		if err := cs.Tracker().Update(appsv1.SchemeGroupVersion.WithResource("deployments"), other, "ns"); err != nil {
			t.Fatal(err)
		}
		return true, nil, apierrors.NewConflict(appsv1.Resource("deployments"), "web", errors.New("the object has been modified"))
	})
	c := &kube.Clients{Typed: cs}
	ctx := context.Background()
	took, err := pause(ctx, c, "ns", "web")
	if err != nil || took {
		t.Fatalf("pause: took %v, err %v; want the Deployment left to whoever paused it", took, err)
	}
	live, err := cs.AppsV1().Deployments("ns").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !live.Spec.Paused || live.Annotations[PausedAnnotation] != "" {
		t.Errorf("live: paused %v, annotations %v; want paused without the Guard's mark", live.Spec.Paused, live.Annotations)
	}
	if did, err := resume(ctx, c, "ns", "web"); did || err != nil {
		t.Errorf("resume: did %v, err %v; want it left paused", did, err)
	}
}

// TestPauseAndResume is the plain case: the Guard's pause carries its mark,
// and its resume clears both.
func TestPauseAndResume(t *testing.T) {
	cs := fake.NewClientset(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", ResourceVersion: "1"}})
	c := &kube.Clients{Typed: cs}
	ctx := context.Background()
	if took, err := pause(ctx, c, "ns", "web"); !took || err != nil {
		t.Fatalf("pause: took %v, err %v", took, err)
	}
	live, _ := cs.AppsV1().Deployments("ns").Get(ctx, "web", metav1.GetOptions{})
	if !live.Spec.Paused || live.Annotations[PausedAnnotation] != pausedBy {
		t.Fatalf("after pause: paused %v, annotations %v", live.Spec.Paused, live.Annotations)
	}
	if did, err := resume(ctx, c, "ns", "web"); !did || err != nil {
		t.Fatalf("resume: did %v, err %v", did, err)
	}
	live, _ = cs.AppsV1().Deployments("ns").Get(ctx, "web", metav1.GetOptions{})
	if live.Spec.Paused || live.Annotations[PausedAnnotation] != "" {
		t.Errorf("after resume: paused %v, annotations %v", live.Spec.Paused, live.Annotations)
	}
}

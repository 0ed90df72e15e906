package testbed_test

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/cutover/cutover/internal/testinfra/testbed"
)

// sample is one observed state of a pod, with when it was seen.
type sample struct {
	at       time.Duration // since the pod was created
	ready    bool
	phase    corev1.PodPhase
	restarts int32
	waiting  string
	reason   string // the Ready condition's reason
}

// observePod creates a pod with behaviour b and records every state it passes
// through for the given duration, or until stop returns true.
func observePod(t *testing.T, ns, name string, b testbed.PodBehavior, d time.Duration, stop func([]sample) bool) []sample {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	pods := cluster.Client.CoreV1().Pods(ns)
	w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: b.Annotations()},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "tomcat:8"}}},
	}
	start := time.Now()
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var seen []sample
	for ev := range w.ResultChan() {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			continue
		}
		seen = append(seen, toSample(time.Since(start), p))
		if stop != nil && stop(seen) {
			break
		}
	}
	return seen
}

func toSample(at time.Duration, p *corev1.Pod) sample {
	s := sample{at: at, ready: podReady(p), phase: p.Status.Phase}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			s.reason = c.Reason
		}
	}
	for _, c := range p.Status.ContainerStatuses {
		s.restarts = c.RestartCount
		if c.State.Waiting != nil {
			s.waiting = c.State.Waiting.Reason
		}
	}
	return s
}

func firstReady(seen []sample) (time.Duration, bool) {
	for _, s := range seen {
		if s.ready {
			return s.at, true
		}
	}
	return 0, false
}

func TestPodBehaviors(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	cases := []struct {
		name     string
		behavior testbed.PodBehavior
		watchFor time.Duration
		stop     func([]sample) bool
		check    func(t *testing.T, seen []sample)
	}{{
		name:     "default-ready-after-small-delay",
		watchFor: 10 * time.Second,
		stop:     func(s []sample) bool { _, ok := firstReady(s); return ok },
		check: func(t *testing.T, seen []sample) {
			at, ok := firstReady(seen)
			if !ok {
				t.Fatal("pod never became Ready")
			}
			if at < 150*time.Millisecond {
				t.Errorf("Ready after %s, want the default delay of 200ms first", at)
			}
			if seen[len(seen)-1].phase != corev1.PodRunning {
				t.Errorf("phase %s, want Running", seen[len(seen)-1].phase)
			}
		},
	}, {
		name:     "ready-after-1500ms",
		behavior: testbed.PodBehavior{ReadyAfter: 1500 * time.Millisecond},
		watchFor: 10 * time.Second,
		stop:     func(s []sample) bool { _, ok := firstReady(s); return ok },
		check: func(t *testing.T, seen []sample) {
			at, ok := firstReady(seen)
			if !ok || at < 1500*time.Millisecond {
				t.Errorf("Ready=%v after %s, want Ready no sooner than 1.5s", ok, at)
			}
		},
	}, {
		name:     "never-ready-holds",
		behavior: testbed.PodBehavior{Behavior: testbed.NeverReady},
		watchFor: 5 * time.Second,
		check: func(t *testing.T, seen []sample) {
			if at, ok := firstReady(seen); ok {
				t.Fatalf("never-ready pod became Ready after %s", at)
			}
			if last := seen[len(seen)-1]; last.phase != corev1.PodRunning {
				t.Errorf("phase %s, want Running", last.phase)
			}
		},
	}, {
		name:     "crash-loop-counts-restarts",
		behavior: testbed.PodBehavior{Behavior: testbed.CrashLoop, CrashEvery: 300 * time.Millisecond},
		watchFor: 15 * time.Second,
		stop:     func(s []sample) bool { return s[len(s)-1].restarts >= 3 },
		check: func(t *testing.T, seen []sample) {
			last := seen[len(seen)-1]
			if last.restarts < 3 || last.waiting != "CrashLoopBackOff" {
				t.Errorf("restarts %d, waiting %q; want >= 3 and CrashLoopBackOff", last.restarts, last.waiting)
			}
			if at, ok := firstReady(seen); ok {
				t.Errorf("crash-looping pod was Ready at %s", at)
			}
		},
	}, {
		name:     "flap-ready-then-unready-for-good",
		behavior: testbed.PodBehavior{Behavior: testbed.Flap, UnreadyAfter: 700 * time.Millisecond},
		watchFor: 5 * time.Second,
		check: func(t *testing.T, seen []sample) {
			readyAt, ok := firstReady(seen)
			if !ok {
				t.Fatal("flapping pod never became Ready")
			}
			last := seen[len(seen)-1]
			if last.ready || last.reason != "ReadinessProbeFailed" {
				t.Fatalf("last state ready=%v reason=%q, want unready with ReadinessProbeFailed", last.ready, last.reason)
			}
			for _, s := range seen {
				if s.at > readyAt && !s.ready && s.at-readyAt < 700*time.Millisecond {
					t.Errorf("unready %s after Ready, want >= 700ms", s.at-readyAt)
				}
			}
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			seen := observePod(t, ns, tc.name, tc.behavior, tc.watchFor, tc.stop)
			if len(seen) == 0 {
				t.Fatal("no pod states observed")
			}
			tc.check(t, seen)
		})
	}
}

func TestJobPodsSucceedOrFail(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	cases := []struct {
		name     string
		behavior testbed.PodBehavior
		want     batchv1.JobConditionType
	}{
		{"passes", testbed.PodBehavior{}, batchv1.JobComplete},
		{"fails", testbed.PodBehavior{Behavior: testbed.Fail}, batchv1.JobFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			job := &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Name: tc.name},
				Spec: batchv1.JobSpec{
					BackoffLimit: ptr.To[int32](0),
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Annotations: tc.behavior.Annotations()},
						Spec: corev1.PodSpec{
							RestartPolicy: corev1.RestartPolicyNever,
							Containers:    []corev1.Container{{Name: "smoke", Image: "curl:8"}},
						},
					},
				},
			}
			if _, err := cluster.Client.BatchV1().Jobs(ns).Create(context.Background(), job, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			var got []batchv1.JobConditionType
			until(t, 30*time.Second, cache.NewListWatchFromClient(cluster.Client.BatchV1().RESTClient(), "jobs", ns, fieldName(tc.name)),
				&batchv1.Job{}, func(s cache.Store) bool {
					for _, o := range s.List() {
						got = got[:0]
						for _, c := range o.(*batchv1.Job).Status.Conditions {
							if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
								got = append(got, c.Type)
							}
						}
					}
					return len(got) > 0
				})
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("job finished with %v, want %s", got, tc.want)
			}
		})
	}
}

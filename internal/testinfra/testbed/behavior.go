package testbed

import "time"

// Pod annotations read by the test bed's kwok Stages (stages.yaml). Put them
// on a pod template to choose how its pods behave.
const (
	AnnotationBehavior       = "testbed.cutover.dev/behavior"
	AnnotationReadyAfter     = "testbed.cutover.dev/ready-after"
	AnnotationReadyAfterMax  = "testbed.cutover.dev/ready-after-max"
	AnnotationUnreadyAfter   = "testbed.cutover.dev/unready-after"
	AnnotationCrashEvery     = "testbed.cutover.dev/crash-every"
	AnnotationCompleteAfter  = "testbed.cutover.dev/complete-after"
	AnnotationTerminateAfter = "testbed.cutover.dev/terminate-after"
)

// Behavior is what a pod's containers do once started.
type Behavior string

// The behaviours the Stages implement.
const (
	Ready      Behavior = "ready"       // Ready after ReadyAfter (default 200ms)
	NeverReady Behavior = "never-ready" // Running, never Ready
	CrashLoop  Behavior = "crash-loop"  // exits every CrashEvery, CrashLoopBackOff, restarts counted
	Flap       Behavior = "flap"        // Ready, then unready for good after UnreadyAfter
	Fail       Behavior = "fail"        // exits 1 after CompleteAfter (Job pods: a failed test)
)

// PodBehavior describes a pod's behaviour; zero durations take the Stage
// defaults.
type PodBehavior struct {
	Behavior       Behavior
	ReadyAfter     time.Duration
	ReadyAfterMax  time.Duration // Ready at a uniform time in [ReadyAfter, ReadyAfterMax]
	UnreadyAfter   time.Duration
	CrashEvery     time.Duration
	CompleteAfter  time.Duration
	TerminateAfter time.Duration
}

// Annotations returns the pod annotations that select b.
func (b PodBehavior) Annotations() map[string]string {
	out := map[string]string{}
	if b.Behavior != "" {
		out[AnnotationBehavior] = string(b.Behavior)
	}
	for key, d := range map[string]time.Duration{
		AnnotationReadyAfter:     b.ReadyAfter,
		AnnotationReadyAfterMax:  b.ReadyAfterMax,
		AnnotationUnreadyAfter:   b.UnreadyAfter,
		AnnotationCrashEvery:     b.CrashEvery,
		AnnotationCompleteAfter:  b.CompleteAfter,
		AnnotationTerminateAfter: b.TerminateAfter,
	} {
		if d > 0 {
			out[key] = d.String()
		}
	}
	return out
}

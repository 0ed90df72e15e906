package strategy

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/cutover/cutover/internal/manifest"
	"github.com/cutover/cutover/internal/verify"
)

// Kinds of canary step.
const (
	StepWeight   = "setWeight"
	StepPause    = "pause"
	StepAnalysis = "analysis"
)

// The canary's pods carry TrackLabel=TrackCanary: the stable Deployment's
// pods do not, which is how a Service's ready endpoints are told apart.
const (
	TrackLabel  = "cutover.dev/track"
	TrackCanary = "canary"
)

// CanarySuffix ends the name of the canary Deployment derived from a
// stable one.
const CanarySuffix = "-canary"

// CanaryStep is one step of a canary release.
type CanaryStep struct {
	Kind string
	// Weight is the canary's share of traffic a StepWeight sets, 0-100.
	Weight int
	// Pause is how long a StepPause waits; 0 waits until promoted.
	Pause time.Duration
	// Analysis names the check a StepAnalysis runs; Checks are it, built.
	Analysis string
	Checks   []verify.Spec
}

// String describes the step for a person.
func (s CanaryStep) String() string {
	switch s.Kind {
	case StepWeight:
		return fmt.Sprintf("weight %d%%", s.Weight)
	case StepPause:
		if s.Pause == 0 {
			return "pause until promoted"
		}
		return "pause " + s.Pause.String()
	case StepAnalysis:
		return "analysis " + s.Analysis
	}
	return s.Kind
}

// stepStage names step i (0-based) of n as a stage.
func stepStage(i, n int, s CanaryStep) string {
	return fmt.Sprintf("Step %d/%d: %s", i+1, n, s)
}

// weightBefore is the weight the steps before step i last set, and
// whether any did.
func weightBefore(steps []CanaryStep, i int) (int, bool) {
	for j := min(i, len(steps)) - 1; j >= 0; j-- {
		if steps[j].Kind == StepWeight {
			return steps[j].Weight, true
		}
	}
	return 0, false
}

// canaryReplicas is how many canary pods approximate weight percent of
// the traffic beside stable pods that keep their full count: the
// canary's count is weight percent of stable's, rounded up so that a
// non-zero weight gets a pod. The share it carries is then
// canary/(stable+canary): 10% of 4 stable pods is 1 canary pod, 20% of the
// traffic. Argo Rollouts does the same without a traffic router.
func canaryReplicas(weight, stable int) (replicas, share int) {
	if weight <= 0 || stable <= 0 {
		if weight > 0 {
			return 1, 100 // nothing stable to share with
		}
		return 0, 0
	}
	replicas = (weight*stable + 99) / 100
	return replicas, (100*replicas + (stable+replicas)/2) / (stable + replicas)
}

// canaryDeployment derives the canary Deployment from the stable one in
// the files: NAME-canary, whose selector and pod labels add TrackLabel,
// so its pods are also selected by every Service that selects stable's,
// and never by stable's own selector's ReplicaSets as theirs (they are
// owned). It starts at zero replicas; steps scale it.
func canaryDeployment(stable manifest.Object) (manifest.Object, error) {
	c := copyObject(stable)
	c.SetName(stable.GetName() + CanarySuffix)
	track := ManagedOptions{SelectorKey: TrackLabel, Color: TrackCanary}
	addLabel(c.Unstructured, track, "metadata", "labels")
	for _, path := range [][]string{{"spec", "selector", "matchLabels"}, {"spec", "template", "metadata", "labels"}} {
		if err := setLabel(c.Unstructured, track, path...); err != nil {
			return c, fmt.Errorf("canary: %s: %w", stable.Source, err)
		}
	}
	if err := unstructured.SetNestedField(c.Object, int64(0), "spec", "replicas"); err != nil {
		return c, err
	}
	return c, nil
}

// withReplicas returns a copy of a Deployment object set to n replicas.
func withReplicas(o manifest.Object, n int) manifest.Object {
	c := copyObject(o)
	_ = unstructured.SetNestedField(c.Object, int64(n), "spec", "replicas")
	return c
}

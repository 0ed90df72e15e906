// Package hazard finds, in a release's objects and before anything is
// written, what will drop users' requests during the rollout however well
// cutover runs it: pods that get traffic before they can answer, pods that
// stop answering while kube-proxy still sends them new connections, a
// rollout that takes the last ready pod away. Each rule names the field to
// change, the fix, and what it cost on the real node when left in
// (realnode.TestRollingHazards).
package hazard

import (
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/cutover/cutover/internal/manifest"
)

// Rule IDs: they appear in warnings, in --strict's refusal and in the
// annotation that accepts a hazard.
const (
	NoReadinessProbe = "no-readiness-probe"
	NoPreStop        = "no-prestop"
	ShortGrace       = "short-grace"
	TakesLastPod     = "takes-last-pod"
	Recreate         = "recreate"
)

// AllowAnnotation on a Deployment accepts hazards by rule ID, comma
// separated, e.g. "no-prestop" for an app known to keep serving after
// SIGTERM.
const AllowAnnotation = "cutover.dev/allow-hazards"

// Finding is one hazard in one object.
type Finding struct {
	Rule   string
	Object manifest.Object
	Ref    string // Kind/namespace/name
	Field  string // the field to change, e.g. spec.template.spec.containers[0].lifecycle.preStop
	// Message says what happens to users' requests and how to fix it.
	Message string
}

// Service is a Service that may route to a release's pods: one of the
// release's, or one already in the cluster.
type Service struct {
	Namespace, Name string
	Selector        map[string]string
}

// Workload is a Deployment of the release with its effective namespace.
type Workload struct {
	Object    manifest.Object
	Namespace string
	Ref       string
}

// Options choose the rules.
type Options struct {
	// Rolling: the Deployments roll in place, so their rollout strategy
	// counts (takes-last-pod, recreate). Blue/green moves traffic by
	// switching the Service, and its colors' strategies do not.
	Rolling bool
}

// Check returns the hazards of workloads behind services. A Deployment no
// Service selects gets no finding: no traffic reaches its pods through one.
func Check(workloads []Workload, services []Service, opts Options) ([]Finding, error) {
	var out []Finding
	for _, w := range workloads {
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(w.Object.Object, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", w.Ref, err)
		}
		svc, ok := routedBy(d.Spec.Template.Labels, w.Namespace, services)
		if !ok {
			continue
		}
		c := check{w: w, d: &d, svc: svc}
		fs := append(c.readiness(), c.preStop()...)
		if opts.Rolling {
			fs = append(fs, c.strategy()...)
		}
		allowed := strings.Split(d.Annotations[AllowAnnotation], ",")
		for _, f := range fs {
			if !slices.Contains(allowed, f.Rule) {
				out = append(out, f)
			}
		}
	}
	return out, nil
}

// routedBy returns the first Service in ns whose selector picks pods with
// these labels.
func routedBy(podLabels map[string]string, ns string, services []Service) (Service, bool) {
	for _, s := range services {
		if s.Namespace == ns && len(s.Selector) > 0 && labels.SelectorFromSet(s.Selector).Matches(labels.Set(podLabels)) {
			return s, true
		}
	}
	return Service{}, false
}

// check holds one Deployment under check.
type check struct {
	w   Workload
	d   *appsv1.Deployment
	svc Service
}

func (c check) finding(rule, field, msg string, args ...any) Finding {
	return Finding{Rule: rule, Object: c.w.Object, Ref: c.w.Ref, Field: field, Message: fmt.Sprintf(msg, args...)}
}

// serving returns the indexes of the containers that serve: those that
// declare ports, or the first when none does.
func (c check) serving() []int {
	var out []int
	for i, ctr := range c.d.Spec.Template.Spec.Containers {
		if len(ctr.Ports) > 0 {
			out = append(out, i)
		}
	}
	if len(out) == 0 && len(c.d.Spec.Template.Spec.Containers) > 0 {
		out = []int{0}
	}
	return out
}

// readiness: a serving container without a readiness (or startup) probe is
// ready, and gets the Service's traffic, as soon as its process starts.
func (c check) readiness() []Finding {
	var out []Finding
	for _, i := range c.serving() {
		ctr := c.d.Spec.Template.Spec.Containers[i]
		if ctr.ReadinessProbe != nil || ctr.StartupProbe != nil {
			continue
		}
		out = append(out, c.finding(NoReadinessProbe, fmt.Sprintf("spec.template.spec.containers[%d].readinessProbe", i),
			"container %q has no readiness probe: Service %s sends it requests as soon as its process starts, before the app can answer them. "+
				"Add a readinessProbe (httpGet on the port it serves)", ctr.Name, c.svc.Name))
	}
	return out
}

// preStop: kube-proxy and ingress controllers learn that a pod is leaving
// after the kubelet has sent it SIGTERM; until then they send it new
// connections, which an app that stops on SIGTERM refuses. A preStop sleep
// keeps it serving meanwhile; the grace period must outlast it.
func (c check) preStop() []Finding {
	spec := c.d.Spec.Template.Spec
	longest, has := int64(0), false
	for _, i := range c.serving() {
		if ps := preStopOf(spec.Containers[i]); ps != nil {
			has = true
			longest = max(longest, sleepSeconds(ps))
		}
	}
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if spec.TerminationGracePeriodSeconds != nil {
		grace = *spec.TerminationGracePeriodSeconds
	}
	if !has {
		i := c.serving()
		if len(i) == 0 {
			return nil
		}
		return []Finding{c.finding(NoPreStop, fmt.Sprintf("spec.template.spec.containers[%d].lifecycle.preStop", i[0]),
			"no preStop delay: a leaving pod (a rollout, a scale-in, a node drain) gets SIGTERM while Service %s's routes (kube-proxy, ingress controllers) still send it new connections for a second or more; "+
				"an app that stops on SIGTERM refuses them. Add lifecycle: {preStop: {sleep: {seconds: 5}}} (Kubernetes 1.34+; an exec of sleep before), "+
				"or accept it with the annotation %s: %s if the app keeps serving for seconds after SIGTERM", c.svc.Name, AllowAnnotation, NoPreStop)}
	}
	if grace <= longest {
		return []Finding{c.finding(ShortGrace, "spec.template.spec.terminationGracePeriodSeconds",
			"terminationGracePeriodSeconds %d does not outlast the preStop sleep of %d s: the kubelet kills the app without letting it finish the requests in flight. "+
				"Make it at least the preStop sleep plus the app's drain time", grace, longest)}
	}
	return nil
}

func preStopOf(c corev1.Container) *corev1.LifecycleHandler {
	if c.Lifecycle == nil {
		return nil
	}
	return c.Lifecycle.PreStop
}

// sleepSeconds is how long a preStop handler waits: its sleep action, or an
// exec of "sleep N"; 0 when unknown.
func sleepSeconds(h *corev1.LifecycleHandler) int64 {
	if h.Sleep != nil {
		return h.Sleep.Seconds
	}
	if h.Exec == nil {
		return 0
	}
	cmd := h.Exec.Command
	if len(cmd) >= 3 && (cmd[0] == "sh" || cmd[0] == "/bin/sh") && cmd[1] == "-c" {
		cmd = strings.Fields(cmd[2])
	}
	for i, arg := range cmd {
		if (arg == "sleep" || strings.HasSuffix(arg, "/sleep")) && i+1 < len(cmd) {
			var n int64
			if _, err := fmt.Sscan(cmd[i+1], &n); err == nil {
				return n
			}
		}
	}
	return 0
}

// strategy: a rolling update that may take every ready pod away before a
// new one is ready, or a Recreate one, which always does.
func (c check) strategy() []Finding {
	st := c.d.Spec.Strategy
	if st.Type == appsv1.RecreateDeploymentStrategyType {
		return []Finding{c.finding(Recreate, "spec.strategy.type",
			"strategy Recreate stops every old pod before any new one starts: Service %s has no pod to send requests to meanwhile. Use RollingUpdate", c.svc.Name)}
	}
	replicas := int32(1)
	if c.d.Spec.Replicas != nil {
		replicas = *c.d.Spec.Replicas
	}
	surge, unavailable := intstr.FromString("25%"), intstr.FromString("25%")
	if ru := st.RollingUpdate; ru != nil {
		if ru.MaxSurge != nil {
			surge = *ru.MaxSurge
		}
		if ru.MaxUnavailable != nil {
			unavailable = *ru.MaxUnavailable
		}
	}
	s, _ := intstr.GetScaledValueFromIntOrPercent(&surge, int(replicas), true)
	u, _ := intstr.GetScaledValueFromIntOrPercent(&unavailable, int(replicas), false)
	if s == 0 && u == 0 {
		u = 1 // the API server refuses both 0; the controller then behaves as 1
	}
	if replicas == 0 || int(replicas)-u >= 1 {
		return nil
	}
	if replicas == 1 && s == 0 {
		return []Finding{c.finding(TakesLastPod, "spec.strategy.rollingUpdate.maxSurge",
			"one replica with maxSurge 0: the rollout stops the only pod before its replacement is ready, and Service %s has none to send requests to meanwhile. "+
				"Set maxSurge: 1 and maxUnavailable: 0", c.svc.Name)}
	}
	return []Finding{c.finding(TakesLastPod, "spec.strategy.rollingUpdate.maxUnavailable",
		"maxUnavailable %s of %d replicas lets the rollout stop every ready pod before a new one is ready: Service %s has none to send requests to meanwhile. "+
			"Keep maxUnavailable below the replicas (e.g. 0 with maxSurge 1)", unavailable.String(), replicas, c.svc.Name)}
}

// ScaleDownTooSoon is the rule for a blue/green scale-down of the old color
// sooner than the routes to it are gone.
const ScaleDownTooSoon = "scale-down-too-soon"

// MinScaleDownDelay is the shortest scale-down delay the pre-flight accepts
// without a warning. On the real node, under load, kube-proxy still sent new
// connections to the old color up to a second after cutover saw production's
// EndpointSlices switch (realnode.TestBlueGreenSwitch); ingress controllers
// and cloud load balancers take longer.
const MinScaleDownDelay = 5 * time.Second

// CheckScaleDown returns the warning for a blue/green scale-down delay
// shorter than MinScaleDownDelay, or "". It ends with the advice on the
// scale-down delay (hint.ScaleDownDelay), which a front end may name.
func CheckScaleDown(delay time.Duration) string {
	if delay >= MinScaleDownDelay {
		return ""
	}
	return fmt.Sprintf("the old color is scaled down %s after the switch: kube-proxy can route new connections to it for a second after the switch, "+
		"ingress controllers and load balancers longer, and those would reach stopping pods. Use a scale-down delay of 30s (the default) or at least %s",
		delay, MinScaleDownDelay)
}

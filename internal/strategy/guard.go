package strategy

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/cutover/cutover/internal/access"
	"github.com/cutover/cutover/internal/apply"
	"github.com/cutover/cutover/internal/drift"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/hint"
	"github.com/cutover/cutover/internal/readiness"
)

// guardOff ends the reason for each of the guard's permissions.
const guardOff = "; not needed with the endpoint guard off"

// guardNeeds are the permissions of the endpoint drift guard over the
// named Services: patch for the resync, and, when it may pause
// Deployments, get and patch on them. Each hints that turning the guard
// off drops it.
func guardNeeds(ns string, services []string, pause bool) []access.Need {
	if len(services) == 0 {
		return nil
	}
	why := "resync the EndpointSlices of Service " + services[0] + " when they drift from its pods" + guardOff
	out := access.Verbs(ns, access.Services, why, "patch")
	out = append(out, access.Verbs(ns, access.EndpointSlices, why, "list", "watch")...)
	out = append(out, access.Verbs(ns, access.EndpointSlices, "drop the endpoints of pods that are gone from the slices of Service "+services[0]+
		" when the EndpointSlice controller does not follow"+guardOff, "update")...)
	out = append(out, access.Verbs(ns, access.Pods, why, "list", "watch")...)
	out = append(out, access.Verbs(ns, access.Services, why, "list", "watch")...)
	if pause {
		why := "pause a rolling Deployment while its Service still routes to pods it removes" + guardOff
		out = append(out, access.Verbs(ns, access.Deployments, why, "get", "patch")...)
	}
	for i := range out {
		out[i].Setting = hint.EndpointGuard
	}
	return out
}

// startGuard starts the drift guard over targets on view, or returns nil
// when it is off or has nothing to watch.
func (r runner) startGuard(ctx context.Context, s drift.Settings, view *readiness.View, targets []drift.Target) *drift.Guard {
	if s.Off || view == nil || len(targets) == 0 {
		return nil
	}
	return drift.Start(ctx, drift.Options{Clients: r.c, View: view, Targets: targets, Grace: s.Grace, Sink: r.sink})
}

// stopGuard stops g (nil is fine) and resumes what it paused, even after
// the run's ctx has ended.
func (r runner) stopGuard(ctx context.Context, g *drift.Guard) {
	if g == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, _ = g.Stop(ctx) // every pause, resume and failure was reported as it happened
}

// rollingTargets are the routed Services of a rolling release, each with
// the Deployments whose pods it selects, to pause while it routes to
// leaving pods.
func rollingTargets(items []*apply.Item) []drift.Target {
	var out []drift.Target
	for _, s := range routedServices(items) {
		t := drift.Target{Service: s.item.Name()}
		for _, d := range items {
			if d.Kind() == "Deployment" && d.Namespace == s.item.Namespace && s.selector.Matches(labels.Set(templateLabels(d.Object.Object))) {
				t.Pause = append(t.Pause, d.Name())
			}
		}
		out = append(out, t)
	}
	return out
}

// resumeLeftPaused resumes the release's Deployments that a killed run's
// guard left paused.
func (r runner) resumeLeftPaused(ctx context.Context, stage string, items []*apply.Item) error {
	for _, it := range items {
		if it.Kind() != "Deployment" || it.Applied == nil {
			continue
		}
		did, err := drift.ResumeLeftPaused(ctx, r.c, it.Namespace, it.Name(), it.Applied.GetAnnotations())
		if err != nil {
			return err
		}
		if did {
			event.Stamp(r.sink, event.Event{Type: event.Warning, Stage: stage, Object: it.Ref(), Status: drift.Status, Action: drift.ActionResumed,
				Message: "resumed: an earlier run's endpoint guard had paused it and was stopped before it could resume it"})
		}
	}
	return nil
}

func targetNames(ts []drift.Target) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.Service)
	}
	return out
}

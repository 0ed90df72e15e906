package strategy

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cutover/cutover/internal/manifest"
	"github.com/cutover/cutover/internal/route"
)

// Explicit mode: the files hold the two Services the route splits between
// (a stable and a canary one, as Argo Rollouts' and Flagger's users write
// them), and the user names them. Each must select the stable
// Deployment's pods; cutover adds TrackLabel to their selectors (stable
// and canary), so each selects its track alone, and sets the route's
// weights on its backendRefs to them.

// trackNamed checks the named Services and the route in the files, and
// returns the objects with the two Services tracked.
func trackNamed(rt, stable manifest.Object, rest []manifest.Object, pair route.Backends) ([]manifest.Object, error) {
	pods := templateLabels(stable.Object)
	found := map[string]bool{}
	out := make([]manifest.Object, 0, len(rest))
	for _, o := range rest {
		track := map[string]string{pair.Stable: TrackStable, pair.Canary: TrackCanary}[o.GetName()]
		if !isService(o) || track == "" {
			out = append(out, o)
			continue
		}
		sel, _, _ := unstructured.NestedStringMap(o.Object, "spec", "selector")
		if len(sel) == 0 || !labels.SelectorFromSet(sel).Matches(pods) {
			return nil, fmt.Errorf("canary: %s: Service %s (the %s Service) does not select the pods of Deployment %s (%v): it must, before cutover adds %s=%s to its selector",
				o.Source, o.GetName(), track, stable.GetName(), labels.Set(pods), TrackLabel, track)
		}
		found[o.GetName()] = true
		out = append(out, withTrack(o, track))
	}
	for _, named := range [][2]string{{TrackStable, pair.Stable}, {TrackCanary, pair.Canary}} {
		if !found[named[1]] {
			return nil, fmt.Errorf("canary: the files hold no Service %s, named as the %s Service", named[1], named[0])
		}
	}
	probe := copyObject(rt)
	n, err := route.Split(probe.Unstructured, pair, 0)
	switch {
	case err != nil:
		return nil, fmt.Errorf("canary: %s: HTTPRoute %s: %w", rt.Source, rt.GetName(), err)
	case n == 0:
		return nil, fmt.Errorf("canary: %s: HTTPRoute %s: no rule's backendRefs name Service %s or %s", rt.Source, rt.GetName(), pair.Stable, pair.Canary)
	}
	return out, nil
}

// withTrack is a copy of a Service of the files that selects track only.
func withTrack(svc manifest.Object, track string) manifest.Object {
	d := copyObject(svc)
	addLabel(d.Unstructured, ManagedOptions{SelectorKey: TrackLabel, Color: track}, "spec", "selector")
	return d
}

package engine

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cutover/cutover/internal/drift"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/readiness"
)

// ProductionReport is what a production Service routes to, as the
// cluster says now: the ready endpoints of its EndpointSlices, and the
// app's pods by color (or track).
type ProductionReport struct {
	Service  string
	Selector map[string]string
	// Endpoints are the pods the Service's EndpointSlices list as ready,
	// sorted.
	Endpoints []string
	// Groups are the pods the Service's selector picks once the group key
	// is left out of it, by their value of that key, sorted by it.
	Groups []PodGroup
}

// PodGroup is the pods of one color or track.
type PodGroup struct {
	Name string // the key's value; "" for pods without it
	Pods []PodState
}

// PodState is one pod as a person looks at it.
type PodState struct {
	Name        string
	Ready       bool
	Terminating bool
	Endpoint    bool // a ready endpoint of the Service
}

// Production reads Service service of c's namespace, its EndpointSlices
// and the pods, grouping the app's pods by their label groupKey (the
// blue/green selector key); without one, all in one group.
func Production(ctx context.Context, c *kube.Clients, service, groupKey string) (ProductionReport, error) {
	st, err := drift.ReadService(ctx, c, c.Namespace, service)
	if err != nil {
		return ProductionReport{}, fmt.Errorf("production service: %w", err)
	}
	sel := maps.Clone(st.Service.Spec.Selector)
	r := ProductionReport{Service: service, Selector: st.Service.Spec.Selector, Endpoints: readyEndpoints(st)}
	delete(sel, groupKey)
	if len(sel) == 0 {
		return r, nil // it would pick every pod of the namespace
	}
	r.Groups = podGroups(st.Pods, labels.SelectorFromSet(sel), groupKey, r.Endpoints)
	return r, nil
}

func readyEndpoints(st *drift.ServiceState) []string {
	var out []string
	for _, s := range st.Slices {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && *e.Conditions.Ready && e.TargetRef != nil {
				out = append(out, e.TargetRef.Name)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func podGroups(pods []*corev1.Pod, sel labels.Selector, key string, endpoints []string) []PodGroup {
	by := map[string][]PodState{}
	for _, p := range pods {
		if !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		g := p.Labels[key]
		_, endpoint := slices.BinarySearch(endpoints, p.Name)
		by[g] = append(by[g], PodState{Name: p.Name, Ready: readiness.PodReady(p), Terminating: p.DeletionTimestamp != nil, Endpoint: endpoint})
	}
	out := make([]PodGroup, 0, len(by))
	for name, ps := range by {
		slices.SortFunc(ps, func(a, b PodState) int { return cmp.Compare(a.Name, b.Name) })
		out = append(out, PodGroup{Name: name, Pods: ps})
	}
	slices.SortFunc(out, func(a, b PodGroup) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

package engine

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cutover/cutover/internal/drift"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/readiness"
	"github.com/cutover/cutover/internal/release"
	"github.com/cutover/cutover/internal/strategy"
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

// CanaryProduction reads what a canary release's users reach now: the
// Service in front of both tracks (gateway mode: the stable Service; replica
// mode: the one Service whose selector picks the stable Deployment's pods),
// its ready endpoints, and the app's pods by track ("stable" for those
// without the track label). ok is false when the record names no canary or
// no single Service picks the stable pods.
func CanaryProduction(ctx context.Context, c *kube.Clients, rec *release.Record) (r ProductionReport, ok bool, err error) {
	if rec.Canary == nil || rec.Canary.Deployment == "" {
		return r, false, nil
	}
	service := rec.Canary.StableService
	if service == "" {
		if service, err = frontService(ctx, c, strings.TrimSuffix(rec.Canary.Deployment, strategy.CanarySuffix)); err != nil || service == "" {
			return r, false, err
		}
	}
	r, err = Production(ctx, c, service, strategy.TrackLabel)
	for i := range r.Groups {
		r.Groups[i].Name = cmp.Or(r.Groups[i].Name, strategy.TrackStable)
	}
	return r, err == nil, err
}

// frontService names the one Service whose selector picks the pods of
// Deployment stable; "" with none or several.
func frontService(ctx context.Context, c *kube.Clients, stable string) (string, error) {
	d, err := c.Typed.AppsV1().Deployments(c.Namespace).Get(ctx, stable, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("stable deployment: %w", err)
	}
	svcs, err := c.Typed.CoreV1().Services(c.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("list services: %w", err)
	}
	var found []string
	for _, s := range svcs.Items {
		if len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
			found = append(found, s.Name)
		}
	}
	if len(found) != 1 {
		return "", nil
	}
	return found[0], nil
}

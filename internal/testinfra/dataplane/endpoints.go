package dataplane

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Endpoint is one pod a router may send requests to.
type Endpoint struct {
	Pod         string
	UID         types.UID
	Address     string // the pod IP in the EndpointSlice (kwok's, not dialled)
	Ready       bool
	Serving     bool
	Terminating bool
}

// usableEndpoints picks the endpoints kube-proxy would route to for a
// Service port: the ready ones, or when none is ready the serving and
// terminating ones. Endpoints are deduplicated by pod and sorted by pod
// name. port is a port name, a Service port number (resolved through svc),
// or zero for any port.
func usableEndpoints(svc *corev1.Service, port intstr.IntOrString, eps []*discoveryv1.EndpointSlice) []Endpoint {
	name, anyPort, ok := portName(svc, port)
	if !ok {
		return nil
	}
	var all []Endpoint
	seen := map[string]bool{}
	for _, s := range eps {
		if !anyPort && !slicePorts(s, name) {
			continue
		}
		for _, e := range s.Endpoints {
			ep, ok := endpointOf(e)
			if !ok || seen[ep.Pod+"/"+string(ep.UID)] {
				continue
			}
			seen[ep.Pod+"/"+string(ep.UID)] = true
			all = append(all, ep)
		}
	}
	usable := filter(all, func(e Endpoint) bool { return e.Ready })
	if len(usable) == 0 {
		usable = filter(all, func(e Endpoint) bool { return e.Serving && e.Terminating })
	}
	slices.SortFunc(usable, func(a, b Endpoint) int { return strings.Compare(a.Pod, b.Pod) })
	return usable
}

// portName resolves port to an EndpointSlice port name; anyPort reports that
// every port matches; ok is false when the Service has no such port.
func portName(svc *corev1.Service, port intstr.IntOrString) (name string, anyPort, ok bool) {
	if port.Type == intstr.String {
		return port.StrVal, false, true
	}
	if port.IntVal == 0 {
		return "", true, true
	}
	if svc == nil {
		return "", false, false
	}
	for _, p := range svc.Spec.Ports {
		if p.Port == port.IntVal {
			return p.Name, false, true
		}
	}
	return "", false, false
}

func slicePorts(s *discoveryv1.EndpointSlice, name string) bool {
	for _, p := range s.Ports {
		if (p.Name == nil && name == "") || (p.Name != nil && *p.Name == name) {
			return true
		}
	}
	return false
}

// endpointOf reads an endpoint's pod and conditions the way kube-proxy
// does: nil ready and serving mean true, nil terminating false.
func endpointOf(e discoveryv1.Endpoint) (Endpoint, bool) {
	if e.TargetRef == nil || e.TargetRef.Kind != "Pod" || e.TargetRef.Name == "" {
		return Endpoint{}, false
	}
	ep := Endpoint{
		Pod:         e.TargetRef.Name,
		UID:         e.TargetRef.UID,
		Ready:       e.Conditions.Ready == nil || *e.Conditions.Ready,
		Serving:     e.Conditions.Serving == nil || *e.Conditions.Serving,
		Terminating: e.Conditions.Terminating != nil && *e.Conditions.Terminating,
	}
	if len(e.Addresses) > 0 {
		ep.Address = e.Addresses[0]
	}
	return ep, true
}

func filter(in []Endpoint, keep func(Endpoint) bool) []Endpoint {
	var out []Endpoint
	for _, e := range in {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

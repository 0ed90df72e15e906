// Package realnode runs cutover's releases on the test bed's real node:
// real pods (containerd, runc), real readiness probes, real kube-proxy, and
// traffic from a users' network namespace through a Service's ClusterIP, with
// new connections and with keep-alive ones. It measures what kwok cannot:
// the data plane's own hazards (kube-proxy learning of a leaving pod after
// the pod got SIGTERM, apps that exit at once, connections held on old pods)
// and checks that cutover's zero-downtime pre-flight warns about each before
// it costs a request.
//
// The tests need root and skip elsewhere with the reason; CI runs them.
package realnode

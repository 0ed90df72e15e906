// Package dataplane makes HTTP flow "through a Service" in the test bed,
// where kwok plays the kubelet and pods run no containers. Tests, benchmarks
// and the demo use it to send real requests during deploys and count what
// answered.
//
// # What answers HTTP in the test bed
//
// Nothing in the cluster itself: kwok pods have an IP in their status but no
// process behind it. The data plane stands in for both the containers and
// kube-proxy, entirely on 127.0.0.1:
//
//   - Backends (the containers). The data plane watches pods. When a pod is
//     first Ready it starts a small HTTP server for it on 127.0.0.1:0 that
//     answers every request like the pod's image would. An image whose base
//     name is tomcat (tomcat:8.0, docker.io/library/tomcat:7) answers
//     "Apache Tomcat/<major>" with the major version from the tag; any other
//     image answers its image name. Every body also names the pod, and the
//     X-Pod response header carries the pod name.
//   - Lifecycle. A backend keeps serving while its pod is unready or
//     terminating. Once the pod has a deletionTimestamp (the end of its grace
//     period) the backend serves until that time, even when kwok removes the
//     pod object earlier, then stops: new connections are refused. kwok
//     removes a pod with a grace-0 delete, which moves its deletionTimestamp
//     back to when deletion began; that final move is ignored, while a
//     deletion that shortens the grace period to a non-zero value does move
//     the stop earlier. When that removal is the first deletion the watch
//     shows (it relisted, e.g. after an API server restart, and caught the
//     pod between kwok's grace-0 update and its removal), the backend serves
//     for the pod's terminationGracePeriodSeconds from when deletion began,
//     as it would have with the graceful deletion seen. A pod that disappears without a deletionTimestamp ever
//     being seen stops after its terminationGracePeriodSeconds (capped by
//     Options.MaxGrace). A pod that never became Ready never gets a backend.
//   - Routers (kube-proxy). Route starts a reverse proxy on 127.0.0.1:0 for
//     one Service port. It watches the Service's EndpointSlices and sends each
//     request, round robin, to the backend of an endpoint whose ready
//     condition is true; when none is ready it falls back to endpoints that
//     are serving and terminating, as kube-proxy does. Endpoints map to
//     backends by their targetRef; the EndpointSlice watch can be a few
//     milliseconds ahead of the pod watch, so a router waits briefly
//     (Options.BackendWait) for a ready endpoint's backend to start. With no
//     usable endpoint it answers 503. A backend that refuses the connection makes
//     the request fail with 502: the router never retries, so real drops
//     show. Every request's outcome (time, status, pod, error) is recorded
//     for auditing.
//   - Load. Load sends requests at a steady rate, one new connection each,
//     and counts failures and answers per version ("Tomcat/7", "Tomcat/8").
//
// Pod annotations change a backend's answer, in addition to the kwok
// behaviour annotations of package testbed:
//
//	testbed.cutover.dev/http-status  HTTP status to answer with, e.g. "500" (default 200)
//	testbed.cutover.dev/http-body    body text to answer with instead of the default
//	testbed.cutover.dev/http-delay   time to take before answering, e.g. "300ms" (default none)
//
// Routing follows the EndpointSlices, so it lags the pods exactly as much as
// the EndpointSlice controller does (typically tens of milliseconds in the
// test bed). deletionTimestamp has a resolution of one second and is rounded
// down, so a pod with terminationGracePeriodSeconds 1 may stop serving almost
// at once; use 5 or more when measuring zero downtime.
package dataplane

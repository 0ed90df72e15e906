// Package audit records what production looked like during a deploy and
// judges it against cutover's zero-downtime invariants. It is a test helper:
// tests, the chaos runs and benchmarks start an Auditor before a deploy and
// stop it after, then ask the Report for violations.
//
// The Auditor watches, never polls: informers on the production Service
// (its selector), the Service's EndpointSlices (the pods behind ready
// endpoints) and the app's pods (readiness, termination, image, labels).
// When given a data plane Router it also takes the router's record of every
// request and of its endpoint changes when it stops. Everything lands in one
// timeline, ordered by time, each API change with its resourceVersion.
//
// The invariants:
//
//  1. ReadyEndpoints: production always has at least one ready endpoint;
//     with Options.MinReady (rolling: replicas - maxUnavailable) at least
//     that many once it first had that many.
//  2. ReadyColor (blue/green, Options.ColorKey set): whenever the
//     production selector changes, every non-terminating pod it now selects
//     is Ready, all run one pod template (one pod-template-hash), and
//     there is at least one. Judged in resourceVersion order
//     (etcd's revision, one order for every object of the test bed), so two
//     watches delivering their events a few milliseconds apart cannot fake
//     or hide a violation.
//  3. Production (Report.CheckProduction): after the deploy, production
//     selects exactly the expected number of pods, all Ready, all running
//     the expected image, and its ready endpoints are exactly those pods.
//     Auditor.WaitProduction waits for that state (EndpointSlices lag pods by
//     milliseconds) before the check.
//  4. NoFailedRequests: no request through the router failed (a router
//     error or a status other than 2xx). With Options.CountedPods, the
//     failed answers of those pods (a canary released to fail) are
//     counted instead (Report.Exposure); any other failure still breaks
//     it.
//
// Two more are asked for explicitly, for a release that exposes some pods
// apart from the others (a canary):
//
//  5. Drained (Report.CheckDrained): once the deploy confirmed that a set
//     of pods takes no more traffic (a canary's abort), the router leaves
//     them, and no request reaches them from then on. The router follows
//     the EndpointSlices with no sync period, but through a watch of its
//     own, which delivers the revision the deploy confirmed about a
//     millisecond before or after the deploy's (more on a loaded machine):
//     requests in that moment are the data plane's lag (Drain.Lagged),
//     counted, not judged.
//     Whether the slices had really left the pods when the deploy said so
//     is the caller's to check against the API.
//  6. RoutedReady (Report.CheckRoutedReady): every pod behind a ready
//     endpoint became Ready: the Service never routes to a pod that
//     crash-loops or never gets ready.
//
// On a violation, Report.Save writes the timeline to a file and Assert logs
// where, with the violations and the timeline around the first of them.
package audit

// Package analysis measures a release with metrics and judges every
// measurement with conditions in CEL, the expression language Kubernetes
// itself uses: the gate of a canary's steps, and blue/green's pre- and
// post-switch analysis.
//
// A metric asks a provider (Prometheus, a web endpoint returning JSON, a
// command) for a value every Interval, Count times, after InitialDelay.
// Each value is judged by the metric's conditions over `result`:
//
//   - both conditions: failure true is Failed, else success true is
//     Successful, else Inconclusive;
//   - a success condition alone: true is Successful, false is Failed;
//   - a failure condition alone: true is Failed, false is Successful.
//
// A provider that cannot be reached, or a condition that cannot be
// evaluated on what it returned, is an Error: never a pass. The metric
// fails once more measurements failed than FailureLimit allows (at once,
// without waiting for the rest), is inconclusive once more were
// inconclusive than InconclusiveLimit allows, or once more errors came in
// a row than ConsecutiveErrorLimit allows: an analysis that cannot measure
// pauses the release for a person, it never promotes it.
package analysis

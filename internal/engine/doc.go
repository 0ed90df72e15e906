// Package engine holds cutover's release actions, for every front end: the
// CLI today, a dashboard and an in-cluster controller later. Each action
// takes a plain request and reports through an event.Sink; none parses
// flags, prints, prompts or names a front end's options.
//
//   - Deploy releases objects with the rolling or the blue/green strategy
//     (package strategy) under the app's lock (release.Lock), keeping a
//     release record (release.Recorder) that status, history and rollback
//     read, closing the record of a run that died, and resuming a
//     blue/green release it had switched.
//   - Blue/green's Confirm stage waits for a decision stored in the record,
//     from `cutover approve` on any machine, a front end's own Gate (the
//     CLI's terminal prompt), or the approval timeout.
//
// The seams are small: the lock and the records are the cluster's
// (Leases and ConfigMaps), a Gate is the front end's, and so is the Sink.
package engine

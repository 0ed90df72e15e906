// Package release keeps the state of cutover runs in the cluster, next to
// the app, so that every machine sees the same truth: `cutover approve`,
// `cutover status`, `cutover history`, `cutover rollback` and a rerun after
// a crash.
//
// Three kinds of objects, in the app's namespace:
//
//   - A per-app lock, the coordination.k8s.io/v1 Lease
//     "cutover-lock-<app>", taken by [Acquire] and renewed in the background
//     until [Lock.Release]. A Lease whose holder stopped renewing it (a
//     crashed run) expires after its duration and is taken over.
//   - One ConfigMap per run, "cutover-<app>-r<revision>", holding a
//     [Record] as JSON under data["record"], managed by a [Store]. Revisions
//     count 1, 2, 3... per app, as Helm's releases do, and [Store.Prune]
//     keeps the newest few.
//   - Next to a blue/green run's record, the objects it rendered for its
//     target color, Secrets left out (see [Record.SetObjects]), so that
//     `cutover rollback` can redeploy that release without its files: the
//     ConfigMap "cutover-<app>-r<revision>-objects", gzipped YAML under
//     binaryData["objects.yaml.gz"]. [Store.Create] writes it once, right
//     after the record, immutable and owned by the record's ConfigMap, so
//     that the garbage collector deletes it with the record ([Store.Prune]
//     deletes it at once). It is kept out of the record, which a run
//     rewrites at every stage and approvals watch, and out of the record's
//     labels (cutover.dev/objects-of instead of cutover.dev/app), so that
//     listing records never carries it. The record's JSON names it and its
//     size ("objects"), and [Store.Objects] reads it.
//
// The record's JSON is read by other machines running other cutover
// versions, so it is versioned ("version": 1) and only grows: a field may be
// added under version 1 (older readers ignore it), a change that older
// readers would misread needs version 2, which version-1 readers refuse.
// Times are UTC RFC3339Nano strings; empty fields are omitted. Example:
//
//	{"version":1,"app":"web","namespace":"prod","strategy":"blue-green",
//	 "revision":3,"fromColor":"blue","toColor":"green",
//	 "images":["tomcat:8"],
//	 "objects":{"configMap":"cutover-web-r3-objects","bytes":5120},
//	 "stages":[{"name":"deploy","status":"succeeded",
//	   "started":"2025-05-01T10:00:00Z","finished":"2025-05-01T10:01:30.5Z"}],
//	 "outcome":"running",
//	 "approval":{"state":"pending"},
//	 "holder":"ci-host-12/pid 4242","started":"2025-05-01T10:00:00Z"}
//
// The identity cutover runs as needs, in the app's namespace: leases (get,
// create, update, delete) and configmaps (get, list, watch, create, update,
// delete).
package release

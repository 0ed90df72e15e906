// Package dashboard serves cutover's web dashboard: every app with release
// records in a namespace, each release's stage timeline and history, and
// the Approve and Reject actions of a release waiting at Confirm, which
// call the same engine action as `cutover approve` and `cutover reject`.
//
// Pages are rendered on the server with html/template; one small script,
// served from /static/, listens to /events (Server-Sent Events) and
// refreshes the page when its app's records change. The read views work
// without it. The records are kept in memory, fed by a watch.
package dashboard

// Package dashboard serves cutover's web dashboard: every app with release
// records in a namespace, each release's stage timeline, what users reach
// now, its analysis and history (and the diff of any two releases'
// objects), and the actions of the CLI: Approve, Reject, Promote, Abort and
// Rollback, each through the same engine action as its command.
//
// Pages are rendered on the server with html/template; one small script,
// served from /static/, listens to /events (Server-Sent Events) and
// refreshes the page when its app's records change. The read views work
// without it. The records are kept in memory, fed by a watch.
//
// In local mode (Options.By) the kubeconfig's identity reads and acts. In
// serve mode (Options.Serve) each request is a person's: their bearer token
// is reviewed by the API server (TokenReview), what they may see and do is
// asked of it (SubjectAccessReview, the verbs of the matching CLI command),
// and the dashboard reads and acts as them (impersonation), each person
// with a watch of their own.
package dashboard

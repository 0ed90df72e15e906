package engine

import "github.com/cutover/cutover/internal/access"

// The permissions of the actions a person takes on a release, in
// namespace ns: what a server that acts for people (the dashboard's serve
// mode) asks the API server about, with SubjectAccessReviews, before it
// offers or performs one. They are the verbs of the matching CLI command.
// The action then runs as the person (impersonation), so the API server
// checks every request again; these decide what the page offers.

// ViewNeeds are cutover status and history's: reading the release records
// and watching them change.
func ViewNeeds(ns string) []access.Need {
	return access.Verbs(ns, access.ConfigMaps, "read release records", "get", "list", "watch")
}

// DecideNeeds are cutover approve and reject's: the pending record's
// approval is rewritten.
func DecideNeeds(ns string) []access.Need {
	return access.Verbs(ns, access.ConfigMaps, "decide a pending approval", "get", "list", "update")
}

// PromoteNeeds are cutover promote's for a paused canary: its record says
// promoted, and its run goes on.
func PromoteNeeds(ns string) []access.Need {
	return access.Verbs(ns, access.ConfigMaps, "promote a paused canary", "get", "list", "update")
}

// AbortNeeds are cutover abort's: the record asks the run to abort and is
// watched until it did; the app's lock tells whether the run is alive, and
// a canary whose run died is scaled down by the abort itself.
func AbortNeeds(ns string) []access.Need {
	return append(RecordNeeds(ns), access.Verbs(ns, access.Deployments, "scale down the canary of a run that died", "get", "patch")...)
}

// RollbackNeeds are cutover rollback APP's when the previous color still
// runs the previous release: the lock and a record of its own, the
// production Service's selector switched back (get, patch), the colors'
// Deployments read, and production's endpoints watched until they are the
// previous color's. A rollback that must redeploy the previous release
// needs what its deploy needs besides; it checks that as the person before
// its first write.
func RollbackNeeds(ns string) []access.Need {
	out := RecordNeeds(ns)
	out = append(out, access.Verbs(ns, access.Services, "switch production back", "get", "patch")...)
	out = append(out, access.Verbs(ns, access.Deployments, "find what the previous color runs", "get", "list", "watch")...)
	out = append(out, access.Verbs(ns, access.Pods, "check the previous color's pods", "list", "watch")...)
	return append(out, access.Verbs(ns, access.EndpointSlices, "wait for production's endpoints", "list", "watch")...)
}

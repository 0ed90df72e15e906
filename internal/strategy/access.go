package strategy

import (
	"context"

	"github.com/cutover/cutover/internal/access"
	"github.com/cutover/cutover/internal/apply"
)

// waitNeeds are the permissions of watching items until they are ready
// and of rolling Deployments back: what a dry run cannot prove.
func waitNeeds(items []*apply.Item) []access.Need {
	var out []access.Need
	for _, it := range items {
		if it.Mapping == nil { // deferred: its CRD or Namespace comes with this run
			continue
		}
		r := it.Mapping.Resource.GroupResource()
		out = append(out, access.Verbs(it.Namespace, r, "wait until "+it.Ref()+" is ready", "get", "list", "watch")...)
		if r == access.Deployments {
			why := "follow the rollout of " + it.Ref() + " and roll it back"
			out = append(out, access.Verbs(it.Namespace, access.ReplicaSets, why, "list", "watch")...)
			out = append(out, access.Verbs(it.Namespace, access.Pods, why, "list", "watch")...)
		}
	}
	return out
}

// checkAccess fails when the run's identity lacks a permission it will
// need; the caller refuses the run.
func (r runner) checkAccess(ctx context.Context, needs []access.Need) error {
	return r.access.Check(ctx, needs)
}

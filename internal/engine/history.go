package engine

import (
	"context"
	"fmt"

	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/release"
	"github.com/cutover/cutover/internal/strategy"
)

// History returns the release records of app, newest first: its first is
// the app's status. An app without records, or records that may not be
// read, refuse (strategy.ErrRefused).
func History(ctx context.Context, c *kube.Clients, app string) ([]*release.Record, error) {
	recs, err := release.NewStore(c.Typed, c.Namespace).List(ctx, app)
	switch {
	case err != nil:
		return nil, refusedIfDenied(err)
	case len(recs) == 0:
		return nil, fmt.Errorf("%w: app %s has no release records in namespace %s", strategy.ErrRefused, app, c.Namespace)
	}
	return recs, nil
}

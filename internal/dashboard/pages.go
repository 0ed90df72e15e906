package dashboard

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/release"
)

// appsPage shows every app with records, those that wait first.
func (s *Server) appsPage(w http.ResponseWriter, r *http.Request) {
	p := page{Title: "Apps"}
	for _, rec := range personOf(r.Context()).records.latest() {
		row := appRowOf(rec)
		if row.Wait.Label != "" {
			p.Waiting++
		}
		p.Apps = append(p.Apps, row)
	}
	slices.SortStableFunc(p.Apps, func(a, b appRow) int {
		return cmp.Compare(waitsLast(a), waitsLast(b))
	})
	s.render(w, r, http.StatusOK, "apps", p)
}

func waitsLast(a appRow) int {
	if a.Wait.Label != "" {
		return 0
	}
	return 1
}

// appPage shows the release view of one app.
func (s *Server) appPage(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	who := personOf(r.Context())
	list := who.records.app(app)
	if len(list) == 0 {
		s.fail(w, r, http.StatusNotFound, "", "No release records of app "+app+" in this namespace.")
		return
	}
	v := releaseViewOf(list, time.Now())
	v.Production, v.ProductionErr = production(r.Context(), who.clients, list[0])
	s.render(w, r, http.StatusOK, "app", page{Title: app, App: app, Release: v, Can: s.can(r.Context(), who)})
}

// production reads what users reach now: the production Service of a
// blue/green record and its pods by color, or the Service in front of a
// canary's tracks and its pods by track; nil for a rolling update's
// record, or a canary whose Service cannot be told. A failure to read is
// shown on the page, not an error page.
func production(ctx context.Context, clients *kube.Clients, rec *release.Record) (*engine.ProductionReport, string) {
	if rec.Canary != nil {
		rep, ok, err := engine.CanaryProduction(ctx, clients, rec)
		switch {
		case err != nil:
			return nil, err.Error()
		case !ok:
			return nil, ""
		}
		return &rep, ""
	}
	if rec.Service == "" {
		return nil, ""
	}
	rep, err := engine.Production(ctx, clients, rec.Service, rec.SelectorKey)
	if err != nil {
		return nil, err.Error()
	}
	return &rep, ""
}

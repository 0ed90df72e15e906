package dashboard

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/release"
)

// appsPage shows every app with records, those that wait first.
func (s *Server) appsPage(w http.ResponseWriter, r *http.Request) {
	p := page{Title: "Apps"}
	for _, rec := range s.records.latest() {
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
	list := s.records.app(app)
	if len(list) == 0 {
		s.fail(w, r, http.StatusNotFound, "", "No release records of app "+app+" in this namespace.")
		return
	}
	v := releaseViewOf(list, time.Now())
	v.Production, v.ProductionErr = s.production(r.Context(), list[0])
	s.render(w, r, http.StatusOK, "app", page{Title: app, App: app, Release: v, CSRF: s.csrf})
}

// production reads what the production Service of a blue/green record
// routes to now; nil for a record without one (a rolling update's, a
// canary's). A failure to read is shown on the page, not an error page.
func (s *Server) production(ctx context.Context, rec *release.Record) (*engine.ProductionReport, string) {
	if rec.Service == "" {
		return nil, ""
	}
	rep, err := engine.Production(ctx, s.opts.Clients, rec.Service, rec.SelectorKey)
	if err != nil {
		return nil, err.Error()
	}
	return &rep, ""
}

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

// appsPage shows every app with records in the namespaces the person may
// read, those that wait first.
func (s *Server) appsPage(w http.ResponseWriter, r *http.Request) {
	who := personOf(r.Context())
	shown, denied, failed := s.readable(r.Context(), who)
	if len(shown) == 0 && len(failed) == 0 {
		s.fail(w, r, http.StatusForbidden, "", "", who.name+" may not read the release records of "+namesOf(denied)+" (get, list and watch configmaps).")
		return
	}
	p := page{Title: "Apps", ManyNamespaces: len(s.opts.Namespaces) > 1, Failed: failed}
	nss := make([]string, 0, len(shown))
	for _, sc := range shown {
		nss = append(nss, sc.ns)
		for _, rec := range sc.recs.latest() {
			row := appRowOf(rec)
			row.Namespace = sc.ns
			if row.Wait.Label != "" {
				p.Waiting++
			}
			p.Apps = append(p.Apps, row)
		}
	}
	if len(nss) > 0 {
		p.Scope = namesOf(nss)
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
	sc, ok := s.scope(w, r)
	if !ok {
		return
	}
	app := r.PathValue("app")
	who := personOf(r.Context())
	list := sc.recs.app(app)
	if len(list) == 0 {
		s.fail(w, r, http.StatusNotFound, "", "", "No release records of app "+app+" in namespace "+sc.ns+".")
		return
	}
	v := releaseViewOf(list, time.Now())
	v.Production, v.ProductionErr = production(r.Context(), who.clients.In(sc.ns), list[0])
	s.render(w, r, http.StatusOK, "app", page{Title: app, Namespace: sc.ns, App: app, Release: v, Can: s.can(r.Context(), who, sc.ns)})
}

// findApp sends /apps/{app}, an app's page before the dashboard showed
// more than one namespace, to the app in the first namespace the person
// may read that has its records.
func (s *Server) findApp(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	shown, _, _ := s.readable(r.Context(), personOf(r.Context()))
	for _, sc := range shown {
		if len(sc.recs.app(app)) > 0 {
			http.Redirect(w, r, s.url(appPath(sc.ns, app)), http.StatusSeeOther)
			return
		}
	}
	s.fail(w, r, http.StatusNotFound, "", "", "No release records of app "+app+" in "+namesOf(s.opts.Namespaces)+" that you may read.")
}

// appPath is the path of app's page.
var appPath = engine.PagePath

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

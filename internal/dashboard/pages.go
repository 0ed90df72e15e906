package dashboard

import (
	"cmp"
	"net/http"
	"slices"
	"time"
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
	s.render(w, r, http.StatusOK, "app", page{
		Title: app, App: app, Release: releaseViewOf(list, time.Now()), CSRF: s.csrf,
	})
}

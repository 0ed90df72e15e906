package dashboard

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/release"
)

// confirmView is an action's confirmation page: what the action will do,
// a comment, and the button that does it.
type confirmView struct {
	Action string // its path: approve, reject, promote, abort, rollback
	Verb   string // its button
	Danger bool   // the button is red: the action stops or undoes
	What   string
}

// confirmPage shows GET /apps/{ns}/{app}/{action}: what the action would
// do, with a comment field and the button that posts it. Nothing changes
// until that post; an action the person may not take, or the release does
// not take now, is refused here already.
func (s *Server) confirmPage(w http.ResponseWriter, r *http.Request) {
	sc, app, verb, a, ok := s.requested(w, r)
	if !ok {
		return
	}
	list := sc.recs.app(app)
	if !a.allowed(list) {
		s.fail(w, r, http.StatusConflict, sc.ns, app, "The latest release of "+app+" does not take "+verb+" now.")
		return
	}
	v := &confirmView{Action: verb, Verb: a.label, Danger: a.danger, What: a.what(list)}
	s.render(w, r, http.StatusOK, "confirm", page{Title: v.Verb + " " + app + "?", Namespace: sc.ns, App: app, Confirm: v})
}

// requested resolves an action's path, /apps/{ns}/{app}/{action}: a
// namespace the person may read, an action there is, and one the person
// may take there. Else it writes the error page and returns false.
func (s *Server) requested(w http.ResponseWriter, r *http.Request) (sc scoped, app, verb string, a action, ok bool) {
	if sc, ok = s.scope(w, r); !ok {
		return sc, "", "", a, false
	}
	app, verb = r.PathValue("app"), r.PathValue("action")
	if a, ok = actions[verb]; !ok {
		s.fail(w, r, http.StatusNotFound, sc.ns, app, "No action "+verb+".")
		return sc, app, verb, a, false
	}
	if who := personOf(r.Context()); !s.mayAct(r.Context(), who, sc.ns, verb) {
		s.fail(w, r, http.StatusForbidden, sc.ns, app, who.name+" may not "+verb+" releases in namespace "+sc.ns+".")
		return sc, app, verb, a, false
	}
	return sc, app, verb, a, true
}

func approveWhat(list []*release.Record) string {
	r := list[0]
	return fmt.Sprintf("Revision %d goes on: production switches from %s to %s (%s), then verifies production.",
		r.Revision, orFirst(r.FromColor), r.ToColor, strings.Join(r.Images, ", "))
}

func rejectWhat(list []*release.Record) string {
	r := list[0]
	return fmt.Sprintf("Revision %d ends rejected: production stays on %s.", r.Revision, orFirst(r.FromColor))
}

func promoteWhat(list []*release.Record) string {
	r := list[0]
	if p := r.Canary; p != nil {
		return fmt.Sprintf("The canary of revision %d goes on from its pause: step %d of %d, now at weight %d%%.", r.Revision, p.Step+1, p.Steps, p.Weight)
	}
	return fmt.Sprintf("Revision %d goes on from its pause.", r.Revision)
}

func abortWhat(list []*release.Record) string {
	r := list[0]
	if r.Strategy == engine.Canary {
		return fmt.Sprintf("The canary of revision %d ends: all traffic goes back to stable, and the canary's pods go.", r.Revision)
	}
	return fmt.Sprintf("The staged revision %d ends without going to production: production stays on %s.", r.Revision, orFirst(r.FromColor))
}

func rollbackWhat(list []*release.Record) string {
	ar, _ := rollbackOf(list) // allowed: there is one
	p := ar.Previous
	return fmt.Sprintf("Production goes back to revision %d (%s, %s), as cutover rollback %s does.",
		p.Revision, targetOf(p), strings.Join(p.Images, ", "), list[0].App)
}

// orFirst names a color, or says there was none (a first release).
func orFirst(color string) string {
	if color == "" {
		return "nothing (a first release)"
	}
	return color
}

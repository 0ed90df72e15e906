package dashboard

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/release"
	"github.com/cutover/cutover/internal/strategy"
)

// maxFormBytes bounds an action's form: a token and a comment.
const maxFormBytes = 64 << 10

// action is what a form of the release view asks for: its button's
// label, red when it stops or undoes (danger); allowed says whether the
// app's records (newest first) take it, what tells the person what it
// will do (on its confirmation page), do performs it as by.
type action struct {
	label   string
	danger  bool
	allowed func(list []*release.Record) bool
	what    func(list []*release.Record) string
	do      func(ctx context.Context, run engine.Run, by, comment string) error
}

// actions are the release view's forms, by path.
var actions = map[string]action{
	"approve": {"Approve", false, latest(func(w wait) bool { return w.Decidable }), approveWhat, decide(true)},
	"reject":  {"Reject", true, latest(func(w wait) bool { return w.Decidable }), rejectWhat, decide(false)},
	"promote": {"Promote", false, latest(func(w wait) bool { return w.Promotable }), promoteWhat, func(ctx context.Context, run engine.Run, by, comment string) error {
		return engine.Promote(ctx, engine.PromoteRequest{Run: run, By: by, Comment: comment})
	}},
	"abort": {"Abort", true, latest(func(w wait) bool { return w.Abortable }), abortWhat, func(ctx context.Context, run engine.Run, by, comment string) error {
		_, err := engine.Abort(ctx, engine.AbortRequest{Run: run, By: by, Comment: comment})
		return err
	}},
	"rollback": {"Rollback", true, func(list []*release.Record) bool { _, ok := rollbackOf(list); return ok }, rollbackWhat, rollback},
}

// latest allows an action by what the app's latest record waits for.
func latest(f func(wait) bool) func([]*release.Record) bool {
	return func(list []*release.Record) bool { return len(list) > 0 && f(waitOf(list[0])) }
}

// rollbackTimeout bounds a rollback started from the dashboard, which
// goes on if the browser leaves.
const rollbackTimeout = 15 * time.Minute

// rollback takes the app back to its previous release, as cutover
// rollback APP does, recorded as by's. It reads the records afresh (the
// engine writes to those it gets; the shown ones are shared). It outlives
// the request: a rollback half done because a browser left would be worse
// than none.
func rollback(ctx context.Context, run engine.Run, by, comment string) error {
	ar, ok, err := engine.FindRollback(ctx, release.NewStore(run.Clients.Typed, run.Clients.Namespace), run.App)
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("%w: no release records of %s could be read", strategy.ErrRefused, run.App)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	run.Sink = event.Discard
	return engine.Rollback(ctx, engine.RollbackRequest{Run: run, AppRollback: ar, By: by, Comment: comment, RollbackTimeout: time.Minute})
}

func decide(approve bool) func(context.Context, engine.Run, string, string) error {
	return func(ctx context.Context, run engine.Run, by, comment string) error {
		_, err := engine.Decide(ctx, engine.DecideRequest{Run: run, Approve: approve, By: by, Comment: comment})
		return err
	}
}

// act returns the handler of the action at /apps/{ns}/{app}/{action}: it
// checks that the person may take the action, the form's CSRF token and
// that the app's latest record takes it, performs it through the engine
// as the person, and sends the browser back to the app's page.
func (s *Server) act(w http.ResponseWriter, r *http.Request) {
	sc, app, verb, a, ok := s.requested(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, sc.ns, app, "The form could not be read: "+err.Error())
		return
	}
	p := personOf(r.Context())
	if !validToken(p.csrf, r.PostForm.Get("csrf")) {
		s.fail(w, r, http.StatusForbidden, sc.ns, app, "The form's token is missing or wrong: reload the page and try again.")
		return
	}
	if !a.allowed(sc.recs.app(app)) {
		s.fail(w, r, http.StatusConflict, sc.ns, app, "The latest release of "+app+" does not take "+verb+" now.")
		return
	}
	err := a.do(r.Context(), engine.Run{Clients: p.clients.In(sc.ns), App: app}, p.name, r.PostForm.Get("comment"))
	switch {
	case errors.Is(err, strategy.ErrRefused):
		s.fail(w, r, http.StatusConflict, sc.ns, app, err.Error())
		return
	case err != nil:
		s.opts.Log.ErrorContext(r.Context(), "dashboard: "+verb, "namespace", sc.ns, "app", app, "error", err)
		s.fail(w, r, http.StatusInternalServerError, sc.ns, app, err.Error())
		return
	}
	s.opts.Log.InfoContext(r.Context(), "dashboard: "+verb, "namespace", sc.ns, "app", app, "by", p.name)
	http.Redirect(w, r, s.url(appPath(sc.ns, app)), http.StatusSeeOther)
}

// validToken compares a form's token with the person's in constant time.
func validToken(want, got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

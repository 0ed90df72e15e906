package dashboard

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"

	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/strategy"
)

// maxFormBytes bounds an action's form: a token and a comment.
const maxFormBytes = 64 << 10

// action is what a form of the release view asks for: allowed says
// whether the app's latest record takes it, do performs it as By.
type action struct {
	allowed func(wait) bool
	do      func(ctx context.Context, run engine.Run, by, comment string) error
}

// actions are the release view's forms, by path.
var actions = map[string]action{
	"approve": {func(w wait) bool { return w.Decidable }, decide(true)},
	"reject":  {func(w wait) bool { return w.Decidable }, decide(false)},
	"promote": {func(w wait) bool { return w.Promotable }, func(ctx context.Context, run engine.Run, by, comment string) error {
		return engine.Promote(ctx, engine.PromoteRequest{Run: run, By: by, Comment: comment})
	}},
	"abort": {func(w wait) bool { return w.Abortable }, func(ctx context.Context, run engine.Run, by, comment string) error {
		_, err := engine.Abort(ctx, engine.AbortRequest{Run: run, By: by, Comment: comment})
		return err
	}},
}

func decide(approve bool) func(context.Context, engine.Run, string, string) error {
	return func(ctx context.Context, run engine.Run, by, comment string) error {
		_, err := engine.Decide(ctx, engine.DecideRequest{Run: run, Approve: approve, By: by, Comment: comment})
		return err
	}
}

// act returns the handler of the action at /apps/{app}/{action}: it
// checks the form's CSRF token and that the app's latest record takes the
// action, performs it through the engine as Options.By, and sends the
// browser back to the app's page.
func (s *Server) act(w http.ResponseWriter, r *http.Request) {
	app, verb := r.PathValue("app"), r.PathValue("action")
	a, ok := actions[verb]
	if !ok {
		s.fail(w, r, http.StatusNotFound, app, "No action "+verb+".")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, app, "The form could not be read: "+err.Error())
		return
	}
	if !s.validToken(r.PostForm.Get("csrf")) {
		s.fail(w, r, http.StatusForbidden, app, "The form's token is missing or wrong: reload the page and try again.")
		return
	}
	if list := s.records.app(app); len(list) == 0 || !a.allowed(waitOf(list[0])) {
		s.fail(w, r, http.StatusConflict, app, "The latest release of "+app+" does not take "+verb+" now.")
		return
	}
	err := a.do(r.Context(), engine.Run{Clients: s.opts.Clients, App: app}, s.opts.By, r.PostForm.Get("comment"))
	switch {
	case errors.Is(err, strategy.ErrRefused):
		s.fail(w, r, http.StatusConflict, app, err.Error())
		return
	case err != nil:
		s.opts.Log.ErrorContext(r.Context(), "dashboard: "+verb, "app", app, "error", err)
		s.fail(w, r, http.StatusInternalServerError, app, err.Error())
		return
	}
	s.opts.Log.InfoContext(r.Context(), "dashboard: "+verb, "app", app, "by", s.opts.By)
	http.Redirect(w, r, "/apps/"+url.PathEscape(app), http.StatusSeeOther)
}

// validToken compares a form's token with the server's in constant time.
func (s *Server) validToken(got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

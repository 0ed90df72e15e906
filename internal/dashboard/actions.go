package dashboard

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"

	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/strategy"
)

// maxFormBytes bounds an action's form: a token and a comment.
const maxFormBytes = 64 << 10

// decide returns the handler of Approve (approve true) or Reject: it
// checks the form's CSRF token, calls engine.Decide as Options.By, and
// sends the browser back to the app's page.
func (s *Server) decide(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		app := r.PathValue("app")
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			s.fail(w, r, http.StatusBadRequest, app, "The form could not be read: "+err.Error())
			return
		}
		if !s.validToken(r.PostForm.Get("csrf")) {
			s.fail(w, r, http.StatusForbidden, app, "The form's token is missing or wrong: reload the page and try again.")
			return
		}
		if list := s.records.app(app); len(list) == 0 || !waitOf(list[0]).Decidable {
			s.fail(w, r, http.StatusConflict, app, "No release of "+app+" waits for approval.")
			return
		}
		rec, err := engine.Decide(r.Context(), engine.DecideRequest{
			Run: engine.Run{Clients: s.opts.Clients, App: app}, Approve: approve,
			By: s.opts.By, Comment: r.PostForm.Get("comment"),
		})
		switch {
		case errors.Is(err, strategy.ErrRefused):
			s.fail(w, r, http.StatusConflict, app, err.Error())
			return
		case err != nil:
			s.opts.Log.ErrorContext(r.Context(), "dashboard: decide", "app", app, "approve", approve, "error", err)
			s.fail(w, r, http.StatusInternalServerError, app, err.Error())
			return
		}
		s.opts.Log.InfoContext(r.Context(), "dashboard: decided", "app", app, "revision", rec.Revision,
			"approval", rec.Approval.State, "by", s.opts.By)
		http.Redirect(w, r, "/apps/"+url.PathEscape(app), http.StatusSeeOther)
	}
}

// validToken compares a form's token with the server's in constant time.
func (s *Server) validToken(got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

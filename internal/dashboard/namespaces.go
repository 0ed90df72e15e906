package dashboard

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/cutover/cutover/internal/kube"
)

// views are one person's watches of the release records, one per
// namespace, each started on its first use, as the person.
type views struct {
	ctx     context.Context // ends the watches
	clients *kube.Clients
	log     *slog.Logger
	byNS    onceEach[*records]
}

func newViews(ctx context.Context, clients *kube.Clients, log *slog.Logger) *views {
	return &views{ctx: ctx, clients: clients, log: log}
}

// of returns the records of namespace ns, watching them from the first
// call on; a watch that could not start is tried again on the next call.
func (v *views) of(ns string) (*records, error) {
	return v.byNS.get(ns, func() (*records, error) { return watchRecords(v.ctx, v.clients.In(ns), v.log) })
}

// scoped are one namespace's records as a person sees them.
type scoped struct {
	ns   string
	recs *records
}

// readable returns the records of each namespace the dashboard serves
// that who may read, in the order of Options.Namespaces, and why each
// other namespace is not there: not allowed (denied), or not readable now
// (failed).
func (s *Server) readable(ctx context.Context, who *person) (out []scoped, denied, failed []string) {
	for _, ns := range s.opts.Namespaces {
		if !s.mayAct(ctx, who, ns, "view") {
			denied = append(denied, ns)
			continue
		}
		recs, err := who.views.of(ns)
		if err != nil {
			s.opts.Log.WarnContext(ctx, "dashboard: read records", "user", who.name, "namespace", ns, "error", err)
			failed = append(failed, fmt.Sprintf("namespace %s: %v", ns, err))
			continue
		}
		out = append(out, scoped{ns: ns, recs: recs})
	}
	return out, denied, failed
}

// scope resolves the namespace of a request's path ({ns}): one the
// dashboard serves and the person may read. Else it writes the error page
// and returns false.
func (s *Server) scope(w http.ResponseWriter, r *http.Request) (scoped, bool) {
	ns := r.PathValue("ns")
	if !slices.Contains(s.opts.Namespaces, ns) {
		s.fail(w, r, http.StatusNotFound, "", "", "This dashboard does not show namespace "+ns+".")
		return scoped{}, false
	}
	who := personOf(r.Context())
	if !s.mayAct(r.Context(), who, ns, "view") {
		s.fail(w, r, http.StatusForbidden, "", "", who.name+" may not read the release records of namespace "+ns+" (get, list and watch configmaps).")
		return scoped{}, false
	}
	recs, err := who.views.of(ns)
	if err != nil {
		s.opts.Log.ErrorContext(r.Context(), "dashboard: read records", "user", who.name, "namespace", ns, "error", err)
		s.fail(w, r, http.StatusServiceUnavailable, "", "", "The release records of namespace "+ns+" could not be read as "+who.name+": "+err.Error())
		return scoped{}, false
	}
	return scoped{ns: ns, recs: recs}, true
}

// namesOf says "namespace a" or "namespaces a, b".
func namesOf(nss []string) string {
	if len(nss) == 1 {
		return "namespace " + nss[0]
	}
	return "namespaces " + strings.Join(nss, ", ")
}

package dashboard

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// keepAlive is how often an idle event stream gets a comment, so that
// proxies keep it open.
const keepAlive = 25 * time.Second

// events streams Server-Sent Events: "change" with NAMESPACE/APP as data
// whenever an app's records change, in the namespaces the person may
// read when the stream opens. It ends when the client goes or the
// server's context ends (graceful shutdown waits for it).
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	p := personOf(r.Context())
	p.streams.Add(1)
	defer p.streams.Add(-1)
	shown, _, _ := s.readable(r.Context(), p)
	if len(shown) == 0 {
		http.Error(w, p.name+" may read the records of none of the dashboard's namespaces", http.StatusForbidden)
		return
	}
	changes := make(chan change, subscriberBuffer)
	for _, sc := range shown {
		defer sc.recs.subscribe(changes)()
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 1000\n\n")
	flusher.Flush()
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.ctx.Done():
			return
		case c := <-changes:
			// Names are DNS labels; a line break would end the data.
			fmt.Fprintf(w, "event: change\ndata: %s\n\n", strings.NewReplacer("\n", "", "\r", "").Replace(c.ns+"/"+c.app))
		case <-tick.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		}
		flusher.Flush()
	}
}

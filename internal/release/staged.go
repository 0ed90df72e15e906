package release

import "time"

// OutcomePending is the outcome of a blue/green run that stopped before
// Confirm (deploy --until confirm): its target color deployed and
// verified, production untouched, waiting for a promote or an abort until
// Staged.Expires.
const OutcomePending = "pending"

// Staged is what a run that stopped before Confirm leaves for the promote
// that continues it.
type Staged struct {
	Colors         [2]string
	IdlePolicy     string
	ScaleDownDelay time.Duration
	// Templates hashes the pod template of each of the target color's
	// Deployments as Verify Staged left them, by name: a promote refuses
	// a color that changed since.
	Templates map[string]string
	// Expires is when the release stops waiting: after it, a promote is
	// refused and the next run records it as aborted.
	Expires time.Time
}

// Expired reports whether a pending release has stopped waiting at now.
func (r *Record) Expired(now time.Time) bool {
	return r.Outcome == OutcomePending && r.Staged != nil && !now.Before(r.Staged.Expires)
}

// wireStaged is Staged as a record stores it.
type wireStaged struct {
	Colors           []string          `json:"colors"`
	IdlePolicy       string            `json:"idlePolicy,omitempty"`
	ScaleDownDelayMs int64             `json:"scaleDownDelayMs,omitempty"`
	Templates        map[string]string `json:"templates,omitempty"`
	Expires          string            `json:"expires"`
}

func wireStagedOf(s *Staged) *wireStaged {
	if s == nil {
		return nil
	}
	return &wireStaged{Colors: s.Colors[:], IdlePolicy: s.IdlePolicy, ScaleDownDelayMs: s.ScaleDownDelay.Milliseconds(),
		Templates: s.Templates, Expires: formatTime(s.Expires)}
}

func (w *wireStaged) staged(t *timeParser) *Staged {
	if w == nil {
		return nil
	}
	s := &Staged{IdlePolicy: w.IdlePolicy, ScaleDownDelay: time.Duration(w.ScaleDownDelayMs) * time.Millisecond,
		Templates: w.Templates, Expires: t.parse(w.Expires)}
	copy(s.Colors[:], w.Colors)
	return s
}

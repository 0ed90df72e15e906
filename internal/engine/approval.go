package engine

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/notify"
	"github.com/cutover/cutover/internal/release"
	"github.com/cutover/cutover/internal/strategy"
)

// Approval configures blue/green's Confirm stage: the run marks its record
// pending, tells people, and waits until someone decides (Decide, from any
// machine), its Gate answers, or Timeout passes.
type Approval struct {
	Timeout   time.Duration
	Notifiers []notify.Notifier
	// Gate, if set, is a front end's own way to ask, racing the record:
	// the CLI's terminal prompt. Its answer is stored as a decision, so
	// the record says who decided, wherever they did.
	Gate Gate
	// Commands word, for people, how to approve and reject app in
	// namespace ns: the CLI's commands, a dashboard's URL.
	Commands func(app, ns string) (approve, reject string)
	// DashboardURL is where cutover's dashboard serves the namespace
	// (cutover serve): the notifications link to the release's page.
	DashboardURL string
	// RunURL is the CI job's page, if any.
	RunURL string
}

// A Gate asks a person to decide about app. It returns when they did, or
// with ctx's error when the wait ends first.
type Gate interface {
	Ask(ctx context.Context, app string) (Decision, error)
}

// Decision is a person's answer at Confirm.
type Decision struct {
	Approve     bool
	By, Comment string
}

// approver waits at Confirm for a decision stored in the run's record.
type approver struct {
	Approval
	store *release.Store
	rec   *release.Recorder
	sink  event.Sink
}

// confirm marks the record pending, tells people, and waits for a
// decision or the timeout: the strategy's Confirm.
func (a *approver) confirm(ctx context.Context, from, to string) error {
	err := a.rec.Change(ctx, func(r *release.Record) {
		r.Approval = &release.Approval{State: release.ApprovalPending, At: time.Now().UTC()}
	})
	if err != nil {
		return fmt.Errorf("ask for approval: %w", err)
	}
	r := a.rec.Record()
	msg := a.message(ctx, &r, from, to)
	a.emit("waiting", fmt.Sprintf("Ready to go? Switch %s from %s to %s: run %q or %q before %s",
		r.App, orNone(from), to, msg.ApproveCommand, msg.RejectCommand, msg.Deadline.Format(time.RFC3339)))
	if err := notify.All(ctx, msg, a.Notifiers...); err != nil {
		event.Stamp(a.sink, event.Event{Type: event.Warning, Stage: strategy.StageConfirm, Message: "notification failed: " + err.Error()})
	}
	wctx, cancel := context.WithDeadline(ctx, msg.Deadline)
	defer cancel()
	if a.Gate != nil {
		go a.ask(wctx, r.App)
	}
	d, err := a.store.WaitForDecision(wctx, r.App, r.Revision)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
			err = fmt.Errorf("%w (%w)", err, cause) // e.g. the lock was lost
		}
		return a.expire(err)
	}
	return a.decided(d)
}

// ask stores the Gate's answer as a decision.
func (a *approver) ask(ctx context.Context, app string) {
	d, err := a.Gate.Ask(ctx, app)
	if err != nil || ctx.Err() != nil {
		return
	}
	_, _ = a.store.Decide(ctx, app, d.Approve, d.By, d.Comment)
}

func (a *approver) decided(d *release.Approval) error {
	if d.State == release.ApprovalApproved {
		a.emit("approved", "by "+d.By+suffixComment(d.Comment))
		return nil
	}
	a.emit("rejected", "by "+d.By+suffixComment(d.Comment))
	return fmt.Errorf("%w by %s%s", ErrRejected, d.By, suffixComment(d.Comment))
}

// expire records that nobody decided and returns why the wait ended.
func (a *approver) expire(err error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = a.rec.Change(ctx, func(r *release.Record) {
		if r.Approval != nil && r.Approval.State == release.ApprovalPending {
			r.Approval = &release.Approval{State: release.ApprovalExpired, At: time.Now().UTC()}
		}
	})
	if errors.Is(err, context.DeadlineExceeded) {
		a.emit("expired", fmt.Sprintf("nobody decided within %s", a.Timeout))
		return fmt.Errorf("no approval within %s: %w", a.Timeout, err)
	}
	return err
}

func (a *approver) emit(status, msg string) {
	event.Stamp(a.sink, event.Event{Type: event.Approval, Stage: strategy.StageConfirm, Object: "approval", Status: status, Message: msg})
}

// message describes what waits, for the notifications.
func (a *approver) message(ctx context.Context, r *release.Record, from, to string) notify.Message {
	ns := r.Namespace
	m := notify.Message{
		App: r.App, Namespace: ns, Strategy: r.Strategy, FromColor: from, ToColor: to,
		FromImages: a.activeImages(ctx, r.App, from), ToImages: r.Images,
		RunID:        fmt.Sprintf("%s revision %d", r.App, r.Revision),
		RunURL:       a.RunURL,
		WaitingSince: time.Now().UTC(), Deadline: time.Now().Add(a.Timeout).UTC(),
	}
	if a.Commands != nil {
		m.ApproveCommand, m.RejectCommand = a.Commands(r.App, ns)
	}
	m.PageURL = PageURL(a.DashboardURL, ns, r.App)
	return m
}

// activeImages are the images of the last release that switched to color.
func (a *approver) activeImages(ctx context.Context, app, color string) []string {
	recs, err := a.store.List(ctx, app)
	if err != nil || color == "" {
		return nil
	}
	for _, r := range recs {
		if r.Outcome == release.OutcomeSucceeded && r.ToColor == color {
			return r.Images
		}
	}
	return nil
}

func suffixComment(c string) string {
	if c == "" {
		return ""
	}
	return ": " + c
}

func orNone(s string) string {
	if s == "" {
		return "(none: first deploy)"
	}
	return s
}

// PageURL is the page of app in namespace ns in the dashboard served at
// base; "" without one.
func PageURL(base, ns, app string) string {
	if base == "" {
		return ""
	}
	return strings.TrimSuffix(base, "/") + PagePath(ns, app)
}

// PagePath is the path of app's page in the dashboard.
func PagePath(ns, app string) string {
	return "/apps/" + url.PathEscape(ns) + "/" + url.PathEscape(app)
}

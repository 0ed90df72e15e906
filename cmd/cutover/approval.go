package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/notify"
	"github.com/cutover/cutover/internal/release"
	"github.com/cutover/cutover/internal/strategy"
)

// approvalFlags configure blue/green's Confirm stage.
type approvalFlags struct {
	mode    string
	timeout time.Duration
	webhook string
	smtp    *notify.SMTP // from the config file only
	headers map[string]string
}

func (f *approvalFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.mode, "approval", "none",
		"blue-green: none, or manual: wait at Confirm until `cutover approve APP` or `cutover reject APP` (from any machine), or an answer in the terminal")
	fs.DurationVar(&f.timeout, "approval-timeout", 30*time.Minute,
		"blue-green: abort with production untouched if nobody decides in time")
	fs.StringVar(&f.webhook, "notify-webhook", "",
		"blue-green: POST a JSON message (Slack-compatible \"text\") here while approval waits (default $CUTOVER_NOTIFY_WEBHOOK)")
}

func (f *approvalFlags) validate() error {
	switch f.mode {
	case "none", "manual":
	default:
		return usageError{fmt.Errorf("--approval %q: want none or manual", f.mode)}
	}
	if f.timeout <= 0 {
		return usageError{fmt.Errorf("--approval-timeout %s: want a positive duration", f.timeout)}
	}
	if f.webhook == "" {
		f.webhook = os.Getenv("CUTOVER_NOTIFY_WEBHOOK")
	}
	for _, n := range f.notifiers() {
		if v, ok := n.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				return usageError{fmt.Errorf("approval notification: %w", err)}
			}
		}
	}
	return nil
}

func (f *approvalFlags) notifiers() []notify.Notifier {
	var out []notify.Notifier
	if f.webhook != "" {
		out = append(out, &notify.Webhook{URL: f.webhook, Headers: f.headers})
	}
	if f.smtp != nil {
		out = append(out, f.smtp)
	}
	return out
}

// errRejected is wrapped by Confirm when a person rejected the release.
var errRejected = errors.New("release rejected")

// approver waits at Confirm for a decision stored in the run's record.
type approver struct {
	store     *release.Store
	rec       *release.Recorder
	timeout   time.Duration
	notifiers []notify.Notifier
	sink      event.Sink
	terminal  io.Reader // stdin when it and stdout are terminals, else nil
}

// confirm marks the record pending, tells people, and waits for
// `cutover approve`, `cutover reject`, a terminal answer, or the timeout.
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
	if err := notify.All(ctx, msg, a.notifiers...); err != nil {
		event.Stamp(a.sink, event.Event{Type: event.Warning, Stage: strategy.StageConfirm, Message: "notification failed: " + err.Error()})
	}
	wctx, cancel := context.WithDeadline(ctx, msg.Deadline)
	defer cancel()
	if a.terminal != nil {
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

func (a *approver) decided(d *release.Approval) error {
	if d.State == release.ApprovalApproved {
		a.emit("approved", "by "+d.By+suffixComment(d.Comment))
		return nil
	}
	a.emit("rejected", "by "+d.By+suffixComment(d.Comment))
	return fmt.Errorf("%w by %s%s", errRejected, d.By, suffixComment(d.Comment))
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
		a.emit("expired", fmt.Sprintf("nobody decided within %s", a.timeout))
		return fmt.Errorf("no approval within %s: %w", a.timeout, err)
	}
	return err
}

func (a *approver) emit(status, msg string) {
	event.Stamp(a.sink, event.Event{Type: event.Approval, Stage: strategy.StageConfirm, Object: "approval", Status: status, Message: msg})
}

// ask reads y or n from the terminal and stores the answer as a decision,
// so that the record says who decided, wherever they did.
func (a *approver) ask(ctx context.Context, app string) {
	line, err := bufio.NewReader(a.terminal).ReadString('\n')
	if err != nil || ctx.Err() != nil {
		return
	}
	yes := strings.EqualFold(strings.TrimSpace(line), "y") || strings.EqualFold(strings.TrimSpace(line), "yes")
	_, _ = a.store.Decide(ctx, app, yes, decider(), "answered in the terminal")
}

// message describes what waits, for the notifications.
func (a *approver) message(ctx context.Context, r *release.Record, from, to string) notify.Message {
	ns := r.Namespace
	return notify.Message{
		App: r.App, Namespace: ns, Strategy: r.Strategy, FromColor: from, ToColor: to,
		FromImages: a.activeImages(ctx, r.App, from), ToImages: r.Images,
		RunID:        fmt.Sprintf("%s revision %d", r.App, r.Revision),
		RunURL:       ciRunURL(),
		WaitingSince: time.Now().UTC(), Deadline: time.Now().Add(a.timeout).UTC(),
		ApproveCommand: fmt.Sprintf("cutover approve %s -n %s", r.App, ns),
		RejectCommand:  fmt.Sprintf("cutover reject %s -n %s", r.App, ns),
	}
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

// terminalInput returns stdin if both it and stdout are terminals.
func terminalInput(in io.Reader, out io.Writer) io.Reader {
	fi, ok1 := in.(*os.File)
	fo, ok2 := out.(*os.File)
	if ok1 && ok2 && term.IsTerminal(int(fi.Fd())) && term.IsTerminal(int(fo.Fd())) {
		return in
	}
	return nil
}

// ciRunURL is the CI job's page, when cutover runs in Jenkins, GitHub
// Actions or GitLab CI.
func ciRunURL() string {
	if u := os.Getenv("BUILD_URL"); u != "" {
		return u
	}
	if id := os.Getenv("GITHUB_RUN_ID"); id != "" {
		return os.Getenv("GITHUB_SERVER_URL") + "/" + os.Getenv("GITHUB_REPOSITORY") + "/actions/runs/" + id
	}
	return os.Getenv("CI_JOB_URL")
}

// decider names the person deciding: $CUTOVER_USER, Jenkins' BUILD_USER_ID,
// GitHub's GITHUB_ACTOR, GitLab's GITLAB_USER_LOGIN, else user@host.
func decider() string {
	for _, k := range []string{"CUTOVER_USER", "BUILD_USER_ID", "GITHUB_ACTOR", "GITLAB_USER_LOGIN"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	host, _ := os.Hostname()
	user := os.Getenv("USER")
	if user == "" {
		user = "unknown"
	}
	return user + "@" + host
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

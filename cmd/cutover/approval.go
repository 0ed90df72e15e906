package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/cutover/cutover/internal/config"
	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/notify"
)

// approvalFlags configure blue/green's Confirm stage.
type approvalFlags struct {
	mode    string
	timeout time.Duration
	webhook string
	smtp    *notify.SMTP // from the config file only
	headers map[string]string
	// dashboard is where cutover serve serves the namespace: the
	// notifications link to the release's page.
	dashboard string
}

func (f *approvalFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.mode, "approval", "none",
		"blue-green: none, or manual: wait at Confirm until `cutover approve APP` or `cutover reject APP` (from any machine), or an answer in the terminal")
	fs.DurationVar(&f.timeout, "approval-timeout", 30*time.Minute,
		"blue-green: abort with production untouched if nobody decides in time")
	fs.StringVar(&f.webhook, "notify-webhook", "",
		"blue-green: POST a JSON message (Slack-compatible \"text\") here while approval waits (default $CUTOVER_NOTIFY_WEBHOOK)")
	fs.StringVar(&f.dashboard, "dashboard-url", "",
		"the URL cutover's dashboard serves this namespace at (cutover serve): the notifications link to the release's page, where people decide with a click (default $CUTOVER_DASHBOARD_URL)")
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
	if f.dashboard == "" {
		f.dashboard = os.Getenv("CUTOVER_DASHBOARD_URL")
	}
	if u, err := url.Parse(f.dashboard); f.dashboard != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
		return usageError{fmt.Errorf("--dashboard-url %q: want an http or https URL, such as https://cutover.example.com", f.dashboard)}
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

// engine is the engine's approval for --approval manual, nil for none:
// people decide with cutover approve and reject, or in terminal (if not
// nil).
func (f *approvalFlags) engine(terminal io.Reader) *engine.Approval {
	if f.mode != config.ApprovalManual {
		return nil
	}
	a := &engine.Approval{Timeout: f.timeout, Notifiers: f.notifiers(), RunURL: ciRunURL(), Commands: decideCommands, DashboardURL: f.dashboard}
	if terminal != nil {
		a.Gate = terminalGate{terminal}
	}
	return a
}

// decideCommands are the commands that approve and reject app's release.
func decideCommands(app, ns string) (approve, reject string) {
	return fmt.Sprintf("cutover approve %s -n %s", app, ns), fmt.Sprintf("cutover reject %s -n %s", app, ns)
}

// terminalGate asks "Ready to go?" in the terminal: y or yes approves,
// any other answer rejects.
type terminalGate struct{ in io.Reader }

func (g terminalGate) Ask(ctx context.Context, _ string) (engine.Decision, error) {
	line, err := bufio.NewReader(g.in).ReadString('\n')
	if err != nil {
		return engine.Decision{}, fmt.Errorf("read the answer: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return engine.Decision{}, err
	}
	yes := strings.EqualFold(strings.TrimSpace(line), "y") || strings.EqualFold(strings.TrimSpace(line), "yes")
	return engine.Decision{Approve: yes, By: decider(), Comment: "answered in the terminal"}, nil
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

func orNone(s string) string {
	if s == "" {
		return "(none: first deploy)"
	}
	return s
}

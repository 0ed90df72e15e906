package notify

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Message describes a run that waits for a person's approval.
type Message struct {
	App       string
	Namespace string
	Strategy  string // e.g. "blue-green"
	// FromColor serves production now; empty on a first deploy.
	FromColor string
	// ToColor is deployed and waits for production to switch to it.
	ToColor    string
	FromImages []string // image references of FromColor
	ToImages   []string // image references of ToColor
	RunID      string
	RunURL     string // optional, e.g. Jenkins' BUILD_URL
	// WaitingSince is when the wait began; zero leaves it out.
	WaitingSince time.Time
	// Deadline is when the run stops waiting and gives up, production
	// untouched; zero means no deadline.
	Deadline time.Time
	// ApproveCommand defaults to "cutover approve APP -n NAMESPACE",
	// RejectCommand to "cutover reject APP -n NAMESPACE".
	ApproveCommand string
	RejectCommand  string
	// PageURL is the release's page in cutover's dashboard, where people
	// can decide with a click; empty when no dashboard URL is configured.
	PageURL string
	// Canary, for a canary paused for a person, says where it stands,
	// e.g. "step 2 of 4, weight 50% (analysis inconclusive)"; FromImages
	// are then stable's, ToImages the canary's, ApproveCommand promotes
	// and RejectCommand aborts.
	Canary string
}

// timeLayout shows times in UTC, to the second.
const timeLayout = "2006-01-02 15:04:05 UTC"

// Subject is a one-line summary, e.g.
// "[cutover] Ready to go? web in prod: blue → green, decide by 2025-05-01 10:30:00 UTC".
func (m Message) Subject() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[cutover] Ready to go? %s", m.where())
	switch {
	case m.Canary != "":
		fmt.Fprintf(&b, ": canary paused at %s", m.Canary)
	case m.FromColor == "":
		fmt.Fprintf(&b, ": first deploy, %s", m.ToColor)
	default:
		fmt.Fprintf(&b, ": %s → %s", m.FromColor, m.ToColor)
	}
	if !m.Deadline.IsZero() {
		fmt.Fprintf(&b, ", decide by %s", m.Deadline.UTC().Format(timeLayout))
	}
	return b.String()
}

// Text is the plain-text body: what waits, for which app and versions, how
// to approve or reject, and until when.
func (m Message) Text() string {
	var b strings.Builder
	m.writeIntro(&b)
	m.writeSides(&b)
	m.writeRun(&b)
	m.writeCommands(&b)
	m.writeDeadline(&b)
	return b.String()
}

func (m Message) writeIntro(b *strings.Builder) {
	fmt.Fprintf(b, "%s waits for approval", m.where())
	if m.Strategy != "" {
		fmt.Fprintf(b, " (%s)", m.Strategy)
	}
	b.WriteString(".\n\n")
}

func (m Message) writeSides(b *strings.Builder) {
	if m.Canary != "" {
		row(b, "Stable", "serves the rest of the traffic")
		images(b, m.FromImages)
		row(b, "Canary", m.Canary)
		images(b, m.ToImages)
		b.WriteString("\n")
		return
	}
	if m.FromColor == "" {
		row(b, "Production now", "nothing yet (first deploy)")
	} else {
		row(b, "Production now", m.FromColor)
		images(b, m.FromImages)
	}
	row(b, "Switch to", m.ToColor+" (deployed, no production traffic yet)")
	images(b, m.ToImages)
	b.WriteString("\n")
}

func (m Message) writeRun(b *strings.Builder) {
	if run := strings.TrimSpace(m.RunID + "  " + m.RunURL); run != "" {
		row(b, "Run", run)
	}
	if !m.WaitingSince.IsZero() {
		row(b, "Waiting since", m.WaitingSince.UTC().Format(timeLayout))
	}
	if m.Deadline.IsZero() {
		row(b, "Decide by", "no deadline, the run waits until someone decides")
	} else {
		row(b, "Decide by", m.Deadline.UTC().Format(timeLayout)+m.waitLength())
	}
	b.WriteString("\n")
}

func (m Message) writeCommands(b *strings.Builder) {
	if m.PageURL != "" {
		fmt.Fprintf(b, "Decide in the dashboard:\n  %s\nor from a shell:\n", m.PageURL)
	}
	if m.Canary != "" {
		fmt.Fprintf(b, "To promote, going on with the next step:\n  %s\n", m.approveCommand())
		fmt.Fprintf(b, "To abort, putting all traffic back on stable:\n  %s\n", m.rejectCommand())
		return
	}
	fmt.Fprintf(b, "To approve, switching production to %s:\n  %s\n", m.ToColor, m.approveCommand())
	keep := "keeping " + m.FromColor + " in production"
	if m.FromColor == "" {
		keep = "leaving production as it is"
	}
	fmt.Fprintf(b, "To reject, %s:\n  %s\n", keep, m.rejectCommand())
}

func (m Message) writeDeadline(b *strings.Builder) {
	if m.Deadline.IsZero() {
		return
	}
	if m.Canary != "" {
		b.WriteString("\nIf nobody decides by then, the run aborts: all traffic goes back on stable.\n")
		return
	}
	b.WriteString("\nIf nobody decides by then, the run stops and production stays as it is.\n")
}

// where names the app and its namespace.
func (m Message) where() string {
	if m.Namespace == "" {
		return m.App
	}
	return m.App + " in " + m.Namespace
}

// waitLength is " (30m after the wait began)", or "" when unknown.
func (m Message) waitLength() string {
	if m.WaitingSince.IsZero() || m.Deadline.Before(m.WaitingSince) {
		return ""
	}
	return " (" + shortDuration(m.Deadline.Sub(m.WaitingSince)) + " after the wait began)"
}

func (m Message) approveCommand() string {
	if m.ApproveCommand != "" {
		return m.ApproveCommand
	}
	return m.command("approve")
}

func (m Message) rejectCommand() string {
	if m.RejectCommand != "" {
		return m.RejectCommand
	}
	return m.command("reject")
}

func (m Message) command(verb string) string {
	c := "cutover " + verb + " " + shellQuote(m.App)
	if m.Namespace != "" {
		c += " -n " + shellQuote(m.Namespace)
	}
	return c
}

func row(b *strings.Builder, label, value string) {
	fmt.Fprintf(b, "%-15s %s\n", label+":", value)
}

func images(b *strings.Builder, refs []string) {
	for _, r := range refs {
		fmt.Fprintf(b, "%-15s %s\n", "", r)
	}
}

// shortDuration is 30m rather than 30m0s, 1h rather than 1h0m0s.
func shortDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9._/:=@+-]+$`)

// shellQuote single-quotes s unless it is plainly safe to paste into a shell.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

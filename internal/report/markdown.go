package report

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteMarkdown writes what was collected as a Markdown summary, as GitHub
// Actions shows a step's $GITHUB_STEP_SUMMARY: a heading with meta's app
// and strategy and the run's outcome, the run's error, a table of the
// stages (status, duration, error) and the warnings as a list. It ends
// with a blank line, so that summaries appended to one file stay apart.
func (c *Collector) WriteMarkdown(w io.Writer, meta Meta) error {
	if _, err := io.WriteString(w, c.snapshot(meta).markdown()); err != nil {
		return fmt.Errorf("write markdown summary: %w", err)
	}
	return nil
}

func (r run) markdown() string {
	var b strings.Builder
	heading := r.title()
	if r.meta.Namespace != "" {
		heading += " in " + r.meta.Namespace
	}
	fmt.Fprintf(&b, "## %s: %s\n\n", md(heading), md(r.outcome))
	if !r.meta.Started.IsZero() {
		fmt.Fprintf(&b, "Started %s UTC, took %s.\n\n", r.meta.Started.UTC().Format(time.DateTime), duration(r.took))
	}
	if r.err != "" {
		fmt.Fprintf(&b, "**Error:** %s\n\n", md(r.err))
	}
	if len(r.stages) > 0 {
		b.WriteString("| Stage | Status | Duration | Error |\n| --- | --- | --- | --- |\n")
		for _, s := range r.stages {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", md(s.Name), md(statusText(s)), duration(s.Duration), md(s.Error))
		}
		b.WriteString("\n")
	}
	r.markdownWarnings(&b)
	return b.String()
}

func (r run) markdownWarnings(b *strings.Builder) {
	if len(r.warnings) == 0 {
		return
	}
	b.WriteString("### Warnings\n\n")
	for _, w := range r.warnings {
		text := w.Text
		if w.index >= 0 {
			text = w.Stage + ": " + text
		}
		fmt.Fprintf(b, "- %s\n", md(text))
	}
	if r.dropped > 0 {
		fmt.Fprintf(b, "- and %d more\n", r.dropped)
	}
	b.WriteString("\n")
}

// statusText is a stage's status, with the reason of a skipped one.
func statusText(s stage) string {
	if s.Status == StatusSkipped && s.Note != "" {
		return s.Status + " (" + s.Note + ")"
	}
	return s.Status
}

// duration rounds d for a person: to the millisecond under a second, to
// the tenth of a second above.
func duration(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

// mdEscaper escapes what Markdown (and a table cell) would read as markup.
var mdEscaper = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", `*`, `\*`, `_`, `\_`, `[`, `\[`, `]`, `\]`,
	`<`, `\<`, `>`, `\>`, `|`, `\|`, `#`, `\#`, `~`, `\~`,
	"\n", "<br>",
)

// md makes s plain text on one line of Markdown: markup escaped, line
// breaks as <br>, other control characters as spaces.
func md(s string) string { return mdEscaper.Replace(text(s)) }

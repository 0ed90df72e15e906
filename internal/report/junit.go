package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
)

// resultCase names the last test case, the run's result: a run can fail
// outside every stage (the lock is held, the records cannot be read), and
// Jenkins and GitLab show test cases, not a suite's properties.
const resultCase = "Result"

// JUnit XML as Jenkins' JUnit plugin and GitLab read it. GitLab shows a
// test case's classname as its suite, the text of its failure and skipped
// elements, and only test cases' system-out; Jenkins also shows the
// failure's message and splits classname at its last dot into package and
// class.
type (
	junitSuites struct {
		XMLName  xml.Name     `xml:"testsuites"`
		Name     string       `xml:"name,attr"`
		Tests    int          `xml:"tests,attr"`
		Failures int          `xml:"failures,attr"`
		Errors   int          `xml:"errors,attr"`
		Skipped  int          `xml:"skipped,attr"`
		Time     string       `xml:"time,attr"`
		Suites   []junitSuite `xml:"testsuite"`
	}
	junitSuite struct {
		Name       string          `xml:"name,attr"`
		Tests      int             `xml:"tests,attr"`
		Failures   int             `xml:"failures,attr"`
		Errors     int             `xml:"errors,attr"`
		Skipped    int             `xml:"skipped,attr"`
		Time       string          `xml:"time,attr"`
		Timestamp  string          `xml:"timestamp,attr,omitempty"`
		Properties []junitProperty `xml:"properties>property"`
		Cases      []junitCase     `xml:"testcase"`
		SystemOut  string          `xml:"system-out,omitempty"`
	}
	junitProperty struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}
	junitCase struct {
		Name      string        `xml:"name,attr"`
		Classname string        `xml:"classname,attr"`
		Time      string        `xml:"time,attr"`
		Failure   *junitFailure `xml:"failure"`
		Skipped   *junitSkipped `xml:"skipped"`
		SystemOut string        `xml:"system-out,omitempty"`
	}
	junitFailure struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	}
	junitSkipped struct {
		Message string `xml:"message,attr,omitempty"`
		Text    string `xml:",chardata"`
	}
)

// WriteJUnit writes what was collected as a JUnit XML document: one test
// suite named after meta's app and strategy, one test case per stage in
// the order they started, then the "Result" test case. A failed stage has
// a failure with its error, a skipped one a skipped element with the
// reason; each stage's warnings are its system-out, and the run's own
// warnings the suite's and the result's.
func (c *Collector) WriteJUnit(w io.Writer, meta Meta) error {
	doc := c.snapshot(meta).junit()
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write junit report: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write junit report: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write junit report: %w", err)
	}
	return nil
}

// junit is r as a JUnit document.
func (r run) junit() junitSuites {
	suite := junitSuite{Name: r.title(), Time: seconds(r.took), Properties: r.properties(),
		SystemOut: lines(r.warningsOf(-1))}
	if !r.meta.Started.IsZero() {
		suite.Timestamp = r.meta.Started.UTC().Format("2006-01-02T15:04:05")
	}
	class := "cutover." + r.title()
	seen := map[string]int{}
	for i, s := range r.stages {
		tc := junitCase{Name: uniqueName(seen, s.Name), Classname: class, Time: seconds(s.Duration), SystemOut: lines(r.warningsOf(i))}
		switch s.Status {
		case StatusSucceeded:
		case StatusSkipped:
			tc.Skipped = &junitSkipped{Message: text(s.Note), Text: text(s.Note)}
			suite.Skipped++
		default:
			tc.Failure = &junitFailure{Message: text(s.Error), Type: s.Status, Text: text(s.Error)}
			suite.Failures++
		}
		suite.Cases = append(suite.Cases, tc)
	}
	suite.Cases = append(suite.Cases, r.resultCase(class))
	if !r.succeeded() {
		suite.Failures++
	}
	suite.Tests = len(suite.Cases)
	return junitSuites{Name: "cutover", Tests: suite.Tests, Failures: suite.Failures, Skipped: suite.Skipped,
		Time: suite.Time, Suites: []junitSuite{suite}}
}

// uniqueName numbers a stage that ran again, "Verify (2)": GitLab keeps
// only the first test case of a name.
func uniqueName(seen map[string]int, name string) string {
	seen[name]++
	if n := seen[name]; n > 1 {
		return fmt.Sprintf("%s (%d)", name, n)
	}
	return name
}

// resultCase is the run's result as a test case.
func (r run) resultCase(class string) junitCase {
	// No time of its own: Jenkins and GitLab add up the test cases' times.
	tc := junitCase{Name: resultCase, Classname: class, Time: seconds(0), SystemOut: lines(r.warningsOf(-1))}
	if !r.succeeded() {
		msg := text(r.err)
		if msg == "" {
			msg = r.outcome
		}
		tc.Failure = &junitFailure{Message: msg, Type: r.outcome, Text: msg}
	}
	return tc
}

// properties name the run for machines: Jenkins and GitLab do not show
// them.
func (r run) properties() []junitProperty {
	props := []junitProperty{{"app", r.meta.App}, {"strategy", r.meta.Strategy}, {"namespace", r.meta.Namespace},
		{"outcome", r.outcome}}
	if r.err != "" {
		props = append(props, junitProperty{"error", text(r.err)})
	}
	if r.dropped > 0 {
		props = append(props, junitProperty{"warnings.dropped", fmt.Sprint(r.dropped)})
	}
	return props
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// lines joins texts one per line, "" for none.
func lines(texts []string) string {
	if len(texts) == 0 {
		return ""
	}
	return text(strings.Join(texts, "\n")) + "\n"
}

// text replaces the control characters of s, other than line breaks and
// tabs, with spaces: XML 1.0 cannot hold most of them (a terminal's
// escape sequence in an error, say).
func text(s string) string {
	return strings.Map(func(r rune) rune {
		if r != '\n' && r != '\t' && unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

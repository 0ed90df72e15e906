package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/event"
)

var at = time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)

// script builds a run's events, each a second after the last unless a
// stage says how long it took.
type script struct {
	now    time.Time
	events []event.Event
}

func newScript() *script { return &script{now: at} }

func (s *script) add(e event.Event) *script {
	s.now = s.now.Add(time.Second)
	e.Time = s.now
	s.events = append(s.events, e)
	return s
}

func (s *script) start(name string) *script {
	return s.add(event.Event{Type: event.StageStarted, Stage: name})
}

// stage adds a stage that ends with status after d.
func (s *script) stage(name, status string, d time.Duration, errText string) *script {
	s.start(name)
	s.now = s.now.Add(d - time.Second)
	return s.add(event.Event{Type: event.StageFinished, Stage: name, Status: status, Duration: d, Error: errText})
}

func (s *script) skip(name, why string) *script {
	s.start(name)
	s.now = s.now.Add(-time.Second)
	return s.add(event.Event{Type: event.StageFinished, Stage: name, Status: StatusSkipped, Message: why})
}

func (s *script) warn(stage, object, msg string) *script {
	return s.add(event.Event{Type: event.Warning, Stage: stage, Object: object, Message: msg})
}

func (s *script) result(status, errText string) *script {
	return s.add(event.Event{Type: event.Result, Status: status, Error: errText})
}

func (s *script) collector() *Collector {
	c := &Collector{}
	for _, e := range s.events {
		c.Emit(e)
	}
	return c
}

const (
	verifyProdErr = "check https://app.example.com/: status 500, want 200"
	switchedBack  = "verify prod: " + verifyProdErr + ": switched back to blue"
	timedOut      = "wait: context deadline exceeded"
)

// The runs the tests report on, with the stage names of package strategy
// (not imported: the report knows stages only by their events).
var (
	rollingOK = newScript().
			stage("Validate", StatusSucceeded, 1200*time.Millisecond, "").
			stage("Apply", StatusSucceeded, 800*time.Millisecond, "").
			stage("Wait", StatusSucceeded, 12*time.Second, "").
			skip("Verify", "no checks").
			result(StatusSucceeded, "")
	blueGreenSwitchedBack = newScript().
				stage("Check Env", StatusSucceeded, time.Second, "").
				stage("Deploy", StatusSucceeded, 20*time.Second, "").
				stage("Verify Staged", StatusSucceeded, 3*time.Second, "").
				skip("Confirm", "no approval asked").
				stage("Switch", StatusSucceeded, 500*time.Millisecond, "").
				stage("Verify Prod", StatusFailed, 30*time.Second, verifyProdErr).
				stage("Switch Back", StatusSucceeded, 400*time.Millisecond, "").
				result("rolled back", switchedBack)
	rollingWarned = newScript().
			warn("", "", "undefined variables left as written: TAG").
			start("Validate").
			warn("Validate", "Deployment/prod/web", "app.yaml:1: Deployment/prod/web: no readiness probe (no-readiness-probe)").
			add(event.Event{Type: event.StageFinished, Stage: "Validate", Status: StatusSucceeded, Duration: time.Second}).
			stage("Apply", StatusSucceeded, time.Second, "").
			start("Wait").
			add(event.Event{Type: event.Warning, Object: "Service/prod/web", Status: "endpoint drift", Action: "resynced"}).
			warn("Wait", "Service/prod/web", "1 endpoint of a deleted pod").
			warn("Confirm", "", "notification failed: 503").
			result("failed", timedOut)
)

// wantCase is a test case as the JUnit report should show it.
type wantCase struct {
	name, failure, skipped, out string
}

var reportTests = []struct {
	name                     string
	run                      *script
	meta                     Meta
	cases                    []wantCase
	failures, skipped        int
	suiteOut                 string
	rows                     []string
	heading, mdError, mdWarn string
}{
	{
		name: "rolling succeeded", run: rollingOK,
		meta: Meta{App: "web", Strategy: "rolling", Namespace: "prod", Started: at},
		cases: []wantCase{{name: "Validate"}, {name: "Apply"}, {name: "Wait"}, {name: "Verify", skipped: "no checks"},
			{name: "Result"}},
		skipped: 1,
		rows: []string{
			"| Validate | succeeded | 1.2s |  |",
			"| Apply | succeeded | 800ms |  |",
			"| Wait | succeeded | 12s |  |",
			"| Verify | skipped (no checks) | 0s |  |",
		},
		heading: "## web (rolling) in prod: succeeded",
	},
	{
		name: "blue/green switched back", run: blueGreenSwitchedBack,
		meta: Meta{App: "shop", Strategy: "blue-green"},
		cases: []wantCase{{name: "Check Env"}, {name: "Deploy"}, {name: "Verify Staged"},
			{name: "Confirm", skipped: "no approval asked"}, {name: "Switch"},
			{name: "Verify Prod", failure: verifyProdErr}, {name: "Switch Back"}, {name: "Result", failure: switchedBack}},
		failures: 2, skipped: 1,
		rows: []string{
			"| Confirm | skipped (no approval asked) | 0s |  |",
			"| Verify Prod | failed | 30s | check https://app.example.com/: status 500, want 200 |",
			"| Switch Back | succeeded | 400ms |  |",
		},
		heading: "## shop (blue-green): rolled back",
		mdError: "**Error:** verify prod: check https://app.example.com/: status 500, want 200: switched back to blue",
	},
	{
		name: "warnings, a stage that never finished", run: rollingWarned,
		meta: Meta{App: "web", Strategy: "rolling"},
		cases: []wantCase{
			{name: "Validate", out: "app.yaml:1: Deployment/prod/web: no readiness probe (no-readiness-probe)\n"},
			{name: "Apply"},
			{name: "Wait", failure: "did not finish: " + timedOut, out: "Service/prod/web: 1 endpoint of a deleted pod\n"},
			{name: "Result", failure: timedOut, out: "undefined variables left as written: TAG\n" +
				"Service/prod/web: endpoint drift resynced\nnotification failed: 503\n"},
		},
		failures: 2,
		suiteOut: "undefined variables left as written: TAG\nService/prod/web: endpoint drift resynced\nnotification failed: 503\n",
		rows:     []string{"| Wait | failed | 4s | did not finish: wait: context deadline exceeded |"},
		heading:  "## web (rolling): failed",
		mdWarn: "### Warnings\n\n- undefined variables left as written: TAG\n" +
			"- Validate: app.yaml:1: Deployment/prod/web: no readiness probe (no-readiness-probe)\n" +
			"- Service/prod/web: endpoint drift resynced\n- Wait: Service/prod/web: 1 endpoint of a deleted pod\n" +
			"- notification failed: 503\n",
	},
}

// What the tests read back from the JUnit report, independent of the
// package's own types.
type (
	readSuites struct {
		XMLName  xml.Name    `xml:"testsuites"`
		Tests    int         `xml:"tests,attr"`
		Failures int         `xml:"failures,attr"`
		Errors   int         `xml:"errors,attr"`
		Skipped  int         `xml:"skipped,attr"`
		Suites   []readSuite `xml:"testsuite"`
	}
	readSuite struct {
		Name       string `xml:"name,attr"`
		Tests      int    `xml:"tests,attr"`
		Failures   int    `xml:"failures,attr"`
		Skipped    int    `xml:"skipped,attr"`
		Time       string `xml:"time,attr"`
		Timestamp  string `xml:"timestamp,attr"`
		Properties []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"properties>property"`
		Cases     []readCase `xml:"testcase"`
		SystemOut string     `xml:"system-out"`
	}
	readCase struct {
		Name      string `xml:"name,attr"`
		Classname string `xml:"classname,attr"`
		Time      string `xml:"time,attr"`
		Failure   *struct {
			Message string `xml:"message,attr"`
			Text    string `xml:",chardata"`
		} `xml:"failure"`
		Skipped *struct {
			Message string `xml:"message,attr"`
		} `xml:"skipped"`
		SystemOut string `xml:"system-out"`
	}
)

func readJUnit(t *testing.T, c *Collector, meta Meta) readSuite {
	t.Helper()
	var buf bytes.Buffer
	if err := c.WriteJUnit(&buf, meta); err != nil {
		t.Fatal(err)
	}
	var doc readSuites
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if len(doc.Suites) != 1 {
		t.Fatalf("want one testsuite, got %d", len(doc.Suites))
	}
	s := doc.Suites[0]
	if doc.Tests != s.Tests || doc.Failures != s.Failures || doc.Skipped != s.Skipped || doc.Errors != 0 {
		t.Errorf("testsuites counts %+v differ from the suite's", doc)
	}
	return s
}

func TestJUnitHasOneTestCasePerStage(t *testing.T) {
	for _, tt := range reportTests {
		t.Run(tt.name, func(t *testing.T) {
			s := readJUnit(t, tt.run.collector(), tt.meta)
			if s.Name != tt.meta.App+" ("+tt.meta.Strategy+")" {
				t.Errorf("suite name %q", s.Name)
			}
			if s.Tests != len(tt.cases) || s.Failures != tt.failures || s.Skipped != tt.skipped {
				t.Errorf("tests/failures/skipped = %d/%d/%d, want %d/%d/%d", s.Tests, s.Failures, s.Skipped,
					len(tt.cases), tt.failures, tt.skipped)
			}
			if s.SystemOut != tt.suiteOut {
				t.Errorf("suite system-out %q, want %q", s.SystemOut, tt.suiteOut)
			}
			if len(s.Cases) != len(tt.cases) {
				t.Fatalf("got %d test cases, want %d", len(s.Cases), len(tt.cases))
			}
			for i, want := range tt.cases {
				checkCase(t, s.Cases[i], want, "cutover."+s.Name)
			}
		})
	}
}

func checkCase(t *testing.T, got readCase, want wantCase, class string) {
	t.Helper()
	if got.Name != want.name || got.Classname != class {
		t.Errorf("test case %q of %q, want %q of %q", got.Name, got.Classname, want.name, class)
	}
	switch {
	case want.failure == "" && got.Failure != nil:
		t.Errorf("%s: unexpected failure %+v", want.name, *got.Failure)
	case want.failure != "" && (got.Failure == nil || got.Failure.Message != want.failure || got.Failure.Text != want.failure):
		t.Errorf("%s: failure %+v, want %q", want.name, got.Failure, want.failure)
	}
	switch {
	case want.skipped == "" && got.Skipped != nil:
		t.Errorf("%s: unexpected skipped", want.name)
	case want.skipped != "" && (got.Skipped == nil || got.Skipped.Message != want.skipped):
		t.Errorf("%s: skipped %+v, want %q", want.name, got.Skipped, want.skipped)
	}
	if got.SystemOut != want.out {
		t.Errorf("%s: system-out %q, want %q", want.name, got.SystemOut, want.out)
	}
}

func TestJUnitTimesAndProperties(t *testing.T) {
	meta := Meta{App: "shop", Strategy: "blue-green", Namespace: "prod", Started: at}
	s := readJUnit(t, blueGreenSwitchedBack.collector(), meta)
	if s.Timestamp != "2026-11-26T20:00:00" {
		t.Errorf("timestamp %q", s.Timestamp)
	}
	last := blueGreenSwitchedBack.events[len(blueGreenSwitchedBack.events)-1].Time
	if want := seconds(last.Sub(at)); s.Time != want {
		t.Errorf("suite time %q, want %q (start to result)", s.Time, want)
	}
	if s.Cases[5].Time != "30.000" || s.Cases[4].Time != "0.500" {
		t.Errorf("stage times %q, %q", s.Cases[5].Time, s.Cases[4].Time)
	}
	props := map[string]string{}
	for _, p := range s.Properties {
		props[p.Name] = p.Value
	}
	want := map[string]string{"app": "shop", "strategy": "blue-green", "namespace": "prod", "outcome": "rolled back", "error": switchedBack}
	if fmt.Sprint(props) != fmt.Sprint(want) {
		t.Errorf("properties %v, want %v", props, want)
	}
}

func TestMarkdownSummary(t *testing.T) {
	for _, tt := range reportTests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.run.collector().WriteMarkdown(&buf, tt.meta); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if first, _, _ := strings.Cut(out, "\n"); first != tt.heading {
				t.Errorf("heading %q, want %q", first, tt.heading)
			}
			lines := strings.Split(out, "\n")
			var rows []string
			for _, l := range lines {
				if strings.HasPrefix(l, "| ") && !strings.HasPrefix(l, "| Stage ") && !strings.HasPrefix(l, "| --- ") {
					rows = append(rows, l)
				}
			}
			if len(rows) != len(tt.cases)-1 {
				t.Errorf("got %d table rows, want one per stage (%d):\n%s", len(rows), len(tt.cases)-1, out)
			}
			for _, row := range tt.rows {
				if !strings.Contains(out, "\n"+row+"\n") {
					t.Errorf("no row %q in\n%s", row, out)
				}
			}
			if tt.mdError != "" && !strings.Contains(out, "\n"+tt.mdError+"\n") {
				t.Errorf("no %q in\n%s", tt.mdError, out)
			}
			if tt.mdWarn != "" && !strings.Contains(out, tt.mdWarn) {
				t.Errorf("no warnings %q in\n%s", tt.mdWarn, out)
			}
			if !strings.HasSuffix(out, "\n\n") {
				t.Errorf("summary does not end with a blank line: %q", out)
			}
		})
	}
}

func TestMarkdownEscapesCells(t *testing.T) {
	c := newScript().
		stage("Verify", StatusFailed, time.Second, "body |a| <b>*x*</b>\nline 2\x1b[31m").
		result("failed", "x").collector()
	var buf bytes.Buffer
	if err := c.WriteMarkdown(&buf, Meta{App: "web"}); err != nil {
		t.Fatal(err)
	}
	want := `| Verify | failed | 1s | body \|a\| \<b\>\*x\*\</b\><br>line 2 \[31m |`
	if !strings.Contains(buf.String(), "\n"+want+"\n") {
		t.Errorf("no row %q in\n%s", want, buf.String())
	}
}

// TestJUnitIsWellFormed checks the header and the document token by token,
// with control characters in an error and a golden copy of a small run.
func TestJUnitIsWellFormed(t *testing.T) {
	c := newScript().
		stage("Wait", StatusFailed, 1500*time.Millisecond, "pod web-1:\ncontainer app: CrashLoopBackOff\x1b[31m \"q\" & <x>").
		result("failed", "wait failed").collector()
	var buf bytes.Buffer
	if err := c.WriteJUnit(&buf, Meta{App: "web", Strategy: "rolling", Started: at}); err != nil {
		t.Fatal(err)
	}
	want := `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="cutover" tests="2" failures="2" errors="0" skipped="0" time="3.500">
  <testsuite name="web (rolling)" tests="2" failures="2" errors="0" skipped="0" time="3.500" timestamp="2026-11-26T20:00:00">
    <properties>
      <property name="app" value="web"></property>
      <property name="strategy" value="rolling"></property>
      <property name="namespace" value=""></property>
      <property name="outcome" value="failed"></property>
      <property name="error" value="wait failed"></property>
    </properties>
    <testcase name="Wait" classname="cutover.web (rolling)" time="1.500">
      <failure message="pod web-1:&#xA;container app: CrashLoopBackOff [31m &#34;q&#34; &amp; &lt;x&gt;" type="failed">pod web-1:&#xA;container app: CrashLoopBackOff [31m &#34;q&#34; &amp; &lt;x&gt;</failure>
    </testcase>
    <testcase name="Result" classname="cutover.web (rolling)" time="0.000">
      <failure message="wait failed" type="failed">wait failed</failure>
    </testcase>
  </testsuite>
</testsuites>
`
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
	d := xml.NewDecoder(&buf)
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v", err)
		}
	}
}

func TestNoResultFailsTheReport(t *testing.T) {
	c := newScript().stage("Validate", StatusSucceeded, time.Second, "").collector()
	s := readJUnit(t, c, Meta{App: "web", Strategy: "rolling"})
	if last := s.Cases[len(s.Cases)-1]; last.Name != "Result" || last.Failure == nil || last.Failure.Message != "no result" {
		t.Errorf("result case %+v", last)
	}
}

func TestSecretsMaskedBeforeTheCollector(t *testing.T) {
	c := &Collector{}
	sink := event.Redact(c, []string{"s3cret"})
	sink.Emit(event.Event{Type: event.StageFinished, Stage: "Apply", Status: StatusFailed, Error: "token s3cret refused"})
	sink.Emit(event.Event{Type: event.Warning, Message: "s3cret"})
	sink.Emit(event.Event{Type: event.Result, Status: "failed", Error: "s3cret"})
	var buf bytes.Buffer
	if err := c.WriteJUnit(&buf, Meta{}); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMarkdown(&buf, Meta{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "s3cret") || !strings.Contains(buf.String(), "token *** refused") {
		t.Errorf("secret not masked:\n%s", buf.String())
	}
}

func TestParseSpec(t *testing.T) {
	tests := []struct {
		values []string
		want   []Spec
		err    string
	}{
		{values: []string{"junit=out/report.xml"}, want: []Spec{{Format: "junit", Path: "out/report.xml"}}},
		{values: []string{"junit=a=b.xml", "junit=c.xml"}, want: []Spec{{"junit", "a=b.xml"}, {"junit", "c.xml"}}},
		{values: nil, want: []Spec{}},
		{values: []string{"xml=a"}, err: `--report "xml=a": want junit=FILE`},
		{values: []string{"junit=ok.xml", "junit"}, err: `--report "junit": want junit=FILE`},
		{values: []string{"junit="}, err: `--report "junit=": want junit=FILE`},
		{values: []string{"JUnit=a.xml"}, err: `--report "JUnit=a.xml": want junit=FILE`},
		{values: []string{""}, err: `--report "": want junit=FILE`},
	}
	for _, tt := range tests {
		got, err := ParseSpecs(tt.values)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%q: error %v, want %q", tt.values, err, tt.err)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%q: got %v, %v; want %v", tt.values, got, err, tt.want)
		}
	}
}

func TestFinishWritesEveryReport(t *testing.T) {
	dir := t.TempDir()
	summary := filepath.Join(dir, "summary.md")
	if err := os.WriteFile(summary, []byte("earlier step\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	specs := []Spec{{FormatJUnit, filepath.Join(dir, "a", "b", "junit.xml")}, {FormatJUnit, filepath.Join(dir, "j.xml")}}
	env := map[string]string{SummaryEnv: summary}
	meta := Meta{App: "web", Strategy: "rolling", Namespace: "prod", Started: at}
	if err := rollingOK.collector().Finish(specs, meta, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		b, err := os.ReadFile(s.Path)
		if err != nil || !bytes.HasPrefix(b, []byte(xml.Header)) {
			t.Errorf("%s: %v %.60q", s.Path, err, b)
		}
	}
	b, err := os.ReadFile(summary)
	if err != nil || !strings.HasPrefix(string(b), "earlier step\n\n## web (rolling) in prod: succeeded\n") {
		t.Errorf("summary not appended: %v\n%s", err, b)
	}
}

func TestFinishWithoutSummaryAndFailures(t *testing.T) {
	dir := t.TempDir()
	c := rollingOK.collector()
	if err := c.Finish(nil, Meta{}, func(string) string { return "" }); err != nil {
		t.Errorf("nothing asked, got %v", err)
	}
	bad := []Spec{{FormatJUnit, dir}, {FormatJUnit, filepath.Join(dir, "ok.xml")}} // a directory cannot be written
	err := c.Finish(bad, Meta{}, func(string) string { return dir })
	if err == nil || !strings.Contains(err.Error(), "junit report: ") || !strings.Contains(err.Error(), "step summary: ") {
		t.Errorf("want the report and summary errors, got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ok.xml")); err != nil {
		t.Errorf("a failed report stopped the next one: %v", err)
	}
}

// TestConcurrentEmit is for -race: stages, warnings and reports at once.
func TestConcurrentEmit(t *testing.T) {
	c := &Collector{}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			name := fmt.Sprintf("stage %d", i)
			c.Emit(event.Event{Time: at, Type: event.StageStarted, Stage: name})
			c.Emit(event.Event{Time: at, Type: event.Warning, Stage: name, Message: "w"})
			c.Emit(event.Event{Time: at, Type: event.StageFinished, Stage: name, Status: StatusSucceeded})
			if err := c.WriteJUnit(io.Discard, Meta{}); err != nil {
				t.Error(err)
			}
			if err := c.WriteMarkdown(io.Discard, Meta{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	c.Emit(event.Event{Time: at, Type: event.Result, Status: StatusSucceeded})
	s := readJUnit(t, c, Meta{App: "web"})
	if s.Tests != 21 || s.Failures != 0 {
		t.Errorf("tests %d, failures %d", s.Tests, s.Failures)
	}
	for _, tc := range s.Cases[:20] {
		if tc.SystemOut != "w\n" {
			t.Errorf("%s: system-out %q", tc.Name, tc.SystemOut)
		}
	}
}

// TestOddStreams covers a stage finished without a start, a stage run
// twice, and more warnings than a report keeps.
func TestOddStreams(t *testing.T) {
	c := &Collector{}
	c.Emit(event.Event{Time: at, Type: event.StageFinished, Stage: "Apply", Status: StatusSucceeded, Duration: time.Second})
	for range 2 {
		c.Emit(event.Event{Time: at, Type: event.StageStarted, Stage: "Verify"})
		c.Emit(event.Event{Time: at, Type: event.StageFinished, Stage: "Verify", Status: StatusSucceeded})
	}
	for i := range maxWarnings + 5 {
		c.Emit(event.Event{Time: at, Type: event.Warning, Stage: "Verify", Message: fmt.Sprint(i)})
	}
	c.Emit(event.Event{Time: at, Type: event.Result, Status: StatusSucceeded})
	s := readJUnit(t, c, Meta{App: "web"})
	var names []string
	for _, tc := range s.Cases {
		names = append(names, tc.Name)
	}
	if fmt.Sprint(names) != "[Apply Verify Verify (2) Result]" {
		t.Errorf("test cases %q", names)
	}
	if s.Cases[1].SystemOut != "" || strings.Count(s.Cases[2].SystemOut, "\n") != maxWarnings {
		t.Errorf("warnings not on the latest Verify, or not bounded")
	}
	var buf bytes.Buffer
	if err := c.WriteMarkdown(&buf, Meta{}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(buf.String(), "- Verify: 199\n- and 5 more\n\n") {
		t.Errorf("no count of the dropped warnings:\n%s", buf.String())
	}
}

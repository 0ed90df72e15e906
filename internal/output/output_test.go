package output

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/event"
)

var at = time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)

func TestLinesAreOneLineEach(t *testing.T) {
	var buf bytes.Buffer
	l := NewLines(&buf)
	l.Emit(event.Event{Time: at, Type: event.StageFinished, Stage: "Wait", Status: "failed", Duration: 1500 * time.Millisecond,
		Error: "pod web-1:\ncontainer app: CrashLoopBackOff\x1b[31m"})
	l.Emit(event.Event{Time: at, Type: event.ObjectStatus, Stage: "Wait", Object: "Deployment/ns/web", Status: "InProgress",
		Message: "Available: 1/3", Counts: &event.Counts{Desired: 3, Updated: 2, Ready: 1, Available: 1, Old: 1}})
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %q", buf.String())
	}
	want := []string{
		"2026-11-26T20:00:00Z [Wait] failed in 1.5s: pod web-1: container app: CrashLoopBackOff [31m",
		"2026-11-26T20:00:00Z [Wait] Deployment/ns/web InProgress: Available: 1/3 (updated 2/3, ready 1, available 1, old 1)",
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d:\n got %q\nwant %q", i, lines[i], want[i])
		}
	}
}

func TestJSONLinesParse(t *testing.T) {
	var buf bytes.Buffer
	j := NewJSON(&buf)
	j.Emit(event.Event{Time: at, Type: event.StageFinished, Stage: "Verify Staged", Status: "succeeded", Duration: 2 * time.Second})
	j.Emit(event.Event{Time: at, Type: event.Result, Status: "succeeded", Message: "a\nb"})
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines: %q", buf.String())
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first["durationMs"] != float64(2000) || first["stage"] != "Verify Staged" || first["stageId"] != "verify-staged" ||
		first["type"] != "stage.finished" {
		t.Errorf("first event %v", first)
	}
	var second map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	if _, has := second["stageId"]; has {
		t.Errorf("an event of no stage has a stageId: %v", second)
	}
}

// TestParseJSONReadsBackWhatJSONWrote checks the round trip of every
// field, the duration included, and the refusal of what is not an event.
func TestParseJSONReadsBackWhatJSONWrote(t *testing.T) {
	events := []event.Event{
		{Time: at, Type: event.StageFinished, Stage: "Apply", Status: "succeeded", Duration: 2 * time.Second},
		{Time: at, Type: event.ObjectStatus, Stage: "Wait", Object: "Deployment/ns/web", Status: "InProgress",
			Message: "Available: 1/3", Counts: &event.Counts{Desired: 3, Updated: 2, Ready: 1, Available: 1, Old: 1}},
		{Time: at, Type: event.Warning, Object: "Service/ns/web", Status: "endpoint drift", Action: "agreed", Duration: 1500 * time.Millisecond},
		{Time: at, Type: event.Result, Status: "failed", Error: "a\nb"},
		{Time: at, Type: event.Warning, Stage: "Deploy", Object: "color blue", Status: "zero-downtime", Action: "scale-down-too-soon",
			Message: "use a longer delay", Settings: []string{"blueGreen.scaleDownDelay", "strict"}},
	}
	var buf bytes.Buffer
	j := NewJSON(&buf)
	for _, e := range events {
		j.Emit(e)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	for i, line := range lines {
		got, err := ParseJSON([]byte(line))
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if !reflect.DeepEqual(got, events[i]) {
			t.Errorf("line %d:\n got %+v\nwant %+v", i+1, got, events[i])
		}
	}
	for _, bad := range []string{"", "not json", `{"stage":"Apply"}`} {
		if _, err := ParseJSON([]byte(bad)); err == nil {
			t.Errorf("ParseJSON(%q) accepted it", bad)
		}
	}
}

// TestPrintersKeepSettingsApart checks that the text printers show an
// event's words as the engine wrote them (a front end words its Settings
// before they reach a printer) and that JSON carries them as a list.
func TestPrintersKeepSettingsApart(t *testing.T) {
	e := event.Event{Time: at, Type: event.Warning, Message: "use a longer delay", Settings: []string{"blueGreen.scaleDownDelay"}}
	if got, want := Describe(e), "warning: use a longer delay"; got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
	var buf bytes.Buffer
	NewJSON(&buf).Emit(e)
	if !strings.Contains(buf.String(), `"settings":["blueGreen.scaleDownDelay"]`) {
		t.Errorf("JSON lacks the settings: %s", buf.String())
	}
	buf.Reset()
	NewJSON(&buf).Emit(event.Event{Time: at, Type: event.Warning, Message: "m"})
	if strings.Contains(buf.String(), "settings") {
		t.Errorf("JSON names settings the event has none of: %s", buf.String())
	}
}

func TestLiveRedrawsInPlace(t *testing.T) {
	var buf bytes.Buffer
	l := NewLive(&buf, 0)
	l.Emit(event.Event{Time: at, Type: event.StageStarted, Stage: "Wait"})
	l.Emit(event.Event{Time: at, Type: event.ObjectStatus, Stage: "Wait", Object: "Deployment/ns/web", Status: "InProgress"})
	l.Emit(event.Event{Time: at, Type: event.ObjectStatus, Stage: "Wait", Object: "Deployment/ns/web", Status: "Current"})
	out := buf.String()
	if !strings.Contains(out, "\x1b[2A") {
		t.Errorf("third frame should move up over the two lines of the second: %q", out)
	}
	if strings.Count(out, "Deployment/ns/web") != 2 {
		t.Errorf("the object should be drawn once per frame after it appears: %q", out)
	}
}

func TestRedactMasksSecrets(t *testing.T) {
	var got []event.Event
	s := event.Redact(event.Func(func(e event.Event) { got = append(got, e) }), []string{"hunter2", ""})
	s.Emit(event.Event{Message: "password hunter2 rejected", Error: "x=hunter2"})
	if strings.Contains(got[0].Message+got[0].Error, "hunter2") {
		t.Errorf("secret leaked: %+v", got[0])
	}
}

func TestLiveCutsLinesToTheTerminal(t *testing.T) {
	var buf bytes.Buffer
	l := NewLive(&buf, 40)
	l.Emit(event.Event{Time: at, Type: event.ObjectStatus, Stage: "Wait", Object: "Deployment/a-very-long-namespace-name/web", Status: "InProgress", Message: strings.Repeat("x", 100)})
	for _, line := range strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") {
		if n := len([]rune(strings.TrimPrefix(line, "\x1b[2K"))); n >= 40 {
			t.Errorf("line of %d runes on a 40-column terminal: %q", n, line)
		}
	}
}

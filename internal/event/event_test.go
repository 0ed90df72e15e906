package event

import (
	"context"
	"slices"
	"testing"
)

// TestSinksPassSettingsOn checks that the sinks that rewrite or fan out an
// event keep the settings it hints at.
func TestSinksPassSettingsOn(t *testing.T) {
	want := []string{"strict", "blueGreen.scaleDownDelay"}
	var c Collector
	sinks := map[string]Sink{
		"Redact": Redact(&c, []string{"hunter2"}),
		"Tee":    Tee(Discard, &c),
	}
	for name, s := range sinks {
		Stamp(s, Event{Type: Warning, Message: "hunter2 refused", Settings: want})
		got := c.Events()
		if e := got[len(got)-1]; !slices.Equal(e.Settings, want) {
			t.Errorf("%s: settings %q, want %q", name, e.Settings, want)
		}
	}
}

func TestStageID(t *testing.T) {
	cases := map[string]string{
		"Check Env": "check-env", "Verify Staged": "verify-staged", "Switch Back": "switch-back",
		"Validate": "validate", "Post": "post", "": "", " Odd--Name ": "odd-name",
	}
	for name, want := range cases {
		if got := StageID(name); got != want {
			t.Errorf("StageID(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestSinkInContext(t *testing.T) {
	if _, _, ok := SinkFrom(context.Background()); ok {
		t.Error("a bare context carries a sink")
	}
	var col Collector
	s, stage, ok := SinkFrom(WithSink(context.Background(), &col, "Verify Prod"))
	if !ok || stage != "Verify Prod" {
		t.Fatalf("SinkFrom: %v %q %v", s, stage, ok)
	}
	s.Emit(Event{Type: Analysis})
	if len(col.Events()) != 1 {
		t.Errorf("the sink from the context is not the one put there: %v", col.Events())
	}
}

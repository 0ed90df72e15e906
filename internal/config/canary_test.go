package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseSteps(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []CanaryStep
		err  string // a fragment of the error, "" for none
	}{
		{"10,pause=30s,50%,pause,analysis=error-rate,100", []CanaryStep{
			{SetWeight: ptr(10)}, {Pause: &Pause{Duration: ptr(30 * time.Second)}}, {SetWeight: ptr(50)},
			{Pause: &Pause{}}, {Analysis: "error-rate"}, {SetWeight: ptr(100)},
		}, ""},
		{" 0 , 100 ", []CanaryStep{{SetWeight: ptr(0)}, {SetWeight: ptr(100)}}, ""},
		{"101", nil, `step 1 ("101"): weight 101 is out of 0 to 100`},
		{"10,-1", nil, `step 2 ("-1"): weight -1 is out of 0 to 100`},
		{"10,pause=soon", nil, `step 2 ("pause=soon"): want a duration above zero`},
		{"pause=0s", nil, `want a duration above zero`},
		{"analysis=", nil, `want the name of a check`},
		{"10,,50", nil, `step 2 (""): want a weight`},
		{"wait", nil, `want a weight (0 to 100), pause, pause=DURATION or analysis=CHECK`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSteps(tc.in)
			switch {
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseSteps(%q) = %v, want an error containing %q", tc.in, err, tc.err)
				}
			case err != nil:
				t.Fatalf("ParseSteps(%q): %v", tc.in, err)
			case !reflect.DeepEqual(got, tc.want):
				t.Errorf("ParseSteps(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestDefaultCanaryStepsParse(t *testing.T) {
	steps, err := ParseSteps(DefaultCanarySteps)
	if err != nil || len(steps) != 4 {
		t.Fatalf("ParseSteps(DefaultCanarySteps) = %d steps, %v", len(steps), err)
	}
}

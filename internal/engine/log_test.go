package engine

import (
	"errors"
	"testing"

	"github.com/cutover/cutover/internal/event"
)

func TestSinkLogWarnsThroughTheStream(t *testing.T) {
	cases := []struct {
		name string
		log  func(r Run)
		want []string // warning messages
	}{
		{"a warning, its attributes in order, the secret masked",
			func(r Run) {
				r.sinkLog().Warn("the release record was not updated", "revision", 3, "err", errors.New("token s3cr3t refused"))
			},
			[]string{"the release record was not updated (revision=3 err=token *** refused)"}},
		{"attributes given to the logger come first",
			func(r Run) { r.sinkLog().With("app", "web").Error("gone", "n", 1) },
			[]string{"gone (app=web n=1)"}},
		{"no attributes", func(r Run) { r.sinkLog().Warn("plain") }, []string{"plain"}},
		{"below warn: nothing", func(r Run) { r.sinkLog().Info("release objects not written", "err", "x") }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var col event.Collector
			tc.log(Run{Sink: &col, Secrets: []string{"s3cr3t"}})
			var got []string
			for _, e := range col.Events() {
				if e.Type != event.Warning {
					t.Errorf("event of type %s, want warnings only", e.Type)
				}
				got = append(got, e.Message)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("warnings %q, want %q", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("warning %d: %q, want %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

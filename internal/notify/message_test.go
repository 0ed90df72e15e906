package notify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/notify"
)

func TestMessageText(t *testing.T) {
	want := `web in prod waits for approval (blue-green).

Production now: blue
                registry.example.com/web:1.4.2
Switch to:      green (deployed, no production traffic yet)
                registry.example.com/web:1.5.0

Run:            42  https://ci.example.com/job/web/42/
Waiting since:  2025-05-01 10:00:00 UTC
Decide by:      2025-05-01 10:30:00 UTC (30m after the wait began)

To approve, switching production to green:
  cutover approve web -n prod
To reject, keeping blue in production:
  cutover reject web -n prod

If nobody decides by then, the run stops and production stays as it is.
`
	if got := testMessage().Text(); got != want {
		t.Errorf("Text():\n%s\nwant:\n%s", got, want)
	}
}

func TestMessageSubject(t *testing.T) {
	tests := []struct {
		name string
		edit func(*notify.Message)
		want string
	}{
		{"switch", func(*notify.Message) {},
			"[cutover] Ready to go? web in prod: blue → green, decide by 2025-05-01 10:30:00 UTC"},
		{"first deploy", func(m *notify.Message) { m.FromColor = "" },
			"[cutover] Ready to go? web in prod: first deploy, green, decide by 2025-05-01 10:30:00 UTC"},
		{"no deadline, no namespace", func(m *notify.Message) { m.Deadline, m.Namespace = time.Time{}, "" },
			"[cutover] Ready to go? web: blue → green"},
		{"deadline in another zone", func(m *notify.Message) { m.Deadline = m.Deadline.In(time.FixedZone("X", 2*3600)) },
			"[cutover] Ready to go? web in prod: blue → green, decide by 2025-05-01 10:30:00 UTC"},
		{"canary", func(m *notify.Message) { m.Canary = "step 2 of 4, weight 10%" },
			"[cutover] Ready to go? web in prod: canary paused at step 2 of 4, weight 10%, decide by 2025-05-01 10:30:00 UTC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMessage()
			tt.edit(&m)
			if got := m.Subject(); got != tt.want {
				t.Errorf("Subject() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMessageTextVariants(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*notify.Message)
		want    []string
		notWant []string
	}{
		{"first deploy", func(m *notify.Message) { m.FromColor, m.FromImages = "", nil },
			[]string{"Production now: nothing yet (first deploy)", "To reject, leaving production as it is:"},
			[]string{"keeping"}},
		{"no deadline", func(m *notify.Message) { m.Deadline = time.Time{} },
			[]string{"Decide by:      no deadline, the run waits until someone decides"},
			[]string{"If nobody decides"}},
		{"custom commands", func(m *notify.Message) {
			m.ApproveCommand, m.RejectCommand = "make approve", "make reject"
		}, []string{"\n  make approve\n", "\n  make reject\n"}, []string{"cutover approve"}},
		{"no namespace", func(m *notify.Message) { m.Namespace = "" },
			[]string{"web waits for approval", "  cutover approve web\n"}, []string{"-n"}},
		{"odd names are quoted", func(m *notify.Message) { m.App = "my app" },
			[]string{"  cutover approve 'my app' -n prod\n"}, nil},
		{"hours", func(m *notify.Message) { m.Deadline = m.WaitingSince.Add(90 * time.Minute) },
			[]string{"(1h30m after the wait began)"}, nil},
		{"no run, no start", func(m *notify.Message) { m.RunID, m.RunURL, m.WaitingSince = "", "", time.Time{} },
			[]string{"Decide by:      2025-05-01 10:30:00 UTC\n"}, []string{"Run:", "Waiting since:", "after the wait"}},
		{"canary", func(m *notify.Message) {
			m.Canary, m.ApproveCommand, m.RejectCommand = "step 2 of 4, weight 10%", "cutover promote web -n prod", "cutover abort web -n prod"
		}, []string{"Canary:         step 2 of 4, weight 10%", "To promote, going on with the next step:\n  cutover promote web -n prod\n",
			"To abort, putting all traffic back on stable:\n  cutover abort web -n prod\n", "the run aborts: all traffic goes back on stable"},
			[]string{"Switch to", "production stays as it is"}},
		{"a dashboard link", func(m *notify.Message) { m.PageURL = "https://cutover.example.com/apps/web" },
			[]string{"Decide in the dashboard:\n  https://cutover.example.com/apps/web\nor from a shell:\nTo approve"}, nil},
		{"no dashboard", func(m *notify.Message) {}, nil, []string{"dashboard"}},
		{"several images", func(m *notify.Message) { m.ToImages = []string{"web:1.5", "sidecar:2"} },
			[]string{"green (deployed, no production traffic yet)\n                web:1.5\n                sidecar:2\n"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMessage()
			tt.edit(&m)
			text := m.Text()
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("Text() lacks %q:\n%s", w, text)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(text, w) {
					t.Errorf("Text() has %q:\n%s", w, text)
				}
			}
		})
	}
}

package config

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/verify"
)

// TestUseTheCommandLineWins plays the CLI: flag variables hold their
// defaults, the file replaces them, a flag given on the command line wins.
func TestUseTheCommandLineWins(t *testing.T) {
	cfg, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	timeout, rollbackTO := 10*time.Minute, 5*time.Minute
	strategy, namespace := StrategyRolling, ""
	files, colors := []string{"cli.yaml"}, []string{"blue", "green"}
	noRollback := true
	given := map[string]bool{"rollback-timeout": true, "namespace": true, "filename": true}

	Use(&timeout, cfg.Timeout, given["timeout"])
	Use(&rollbackTO, ptr(time.Second), given["rollback-timeout"])
	Use(&noRollback, cfg.NoRollback, given["no-rollback"])
	UseString(&strategy, cfg.Strategy, given["strategy"])
	UseString(&namespace, cfg.Namespace, given["namespace"])
	UseList(&files, cfg.Files, given["filename"])
	UseList(&colors, []string{"red", "black"}, given["colors"])

	if timeout != 10*time.Minute || rollbackTO != 5*time.Minute || noRollback {
		t.Errorf("timeout %v, rollback timeout %v, no rollback %v", timeout, rollbackTO, noRollback)
	}
	if strategy != StrategyBlueGreen || namespace != "" {
		t.Errorf("strategy %q, namespace %q", strategy, namespace)
	}
	if !slices.Equal(files, []string{"cli.yaml"}) || !slices.Equal(colors, []string{"red", "black"}) {
		t.Errorf("files %q, colors %q", files, colors)
	}
	var unset *time.Duration
	Use(&timeout, unset, false)
	UseString(&strategy, "", false)
	UseList(&colors, nil, false)
	if timeout != 10*time.Minute || strategy != StrategyBlueGreen || len(colors) != 2 {
		t.Error("an unset value of the file replaced the flag's")
	}
}

func TestVarList(t *testing.T) {
	c := &Config{Vars: map[string]string{"B": "2", "A": "x=y"}}
	if got, want := c.VarList(), []string{"A=x=y", "B=2"}; !slices.Equal(got, want) {
		t.Errorf("VarList() = %q, want %q", got, want)
	}
	if got := (&Config{}).VarList(); len(got) != 0 {
		t.Errorf("VarList() of no vars = %q", got)
	}
}

func TestChecksFor(t *testing.T) {
	c := &Config{Checks: []Check{{Name: "a"}, {Name: "b", Stage: StageStaged}, {Name: "c", Stage: StageProd}, {Name: "d", Stage: StageBoth}}}
	names := func(checks []Check) []string {
		var out []string
		for _, ch := range checks {
			out = append(out, ch.Name)
		}
		return out
	}
	if got, want := names(c.ChecksFor(StageStaged)), []string{"a", "b", "d"}; !slices.Equal(got, want) {
		t.Errorf("staged: %q, want %q", got, want)
	}
	if got, want := names(c.ChecksFor(StageProd)), []string{"a", "c", "d"}; !slices.Equal(got, want) {
		t.Errorf("prod: %q, want %q", got, want)
	}
}

func TestPolicy(t *testing.T) {
	got := Check{Attempts: ptr(3), Timeout: ptr(time.Minute)}.Policy()
	want := verify.Policy{Attempts: 3, Interval: verify.DefaultInterval, Timeout: time.Minute, SuccessesInRow: 1}
	if got != want {
		t.Errorf("Policy() = %+v, want %+v", got, want)
	}
}

func TestWebhookResolve(t *testing.T) {
	env := map[string]string{"HOOK": "https://hooks.example.com/T0/B0/secret", "TOKEN": "Bearer s3cret", "EMPTY": ""}
	lookup := func(name string) (string, bool) { v, ok := env[name]; return v, ok }
	w := &Webhook{URLEnv: "HOOK", Headers: map[string]string{"X-A": "1"}, HeadersEnv: map[string]string{"Authorization": "TOKEN"}}
	url, headers, err := w.Resolve(lookup)
	if err != nil {
		t.Fatal(err)
	}
	wantHeaders := map[string]string{"X-A": "1", "Authorization": "Bearer s3cret"}
	if url != env["HOOK"] || !reflect.DeepEqual(headers, wantHeaders) {
		t.Errorf("Resolve() = %q, %q", url, headers)
	}
	if _, ok := w.Headers["Authorization"]; ok {
		t.Error("Resolve changed the config's headers")
	}
	for _, tc := range []struct {
		w    Webhook
		want string
	}{
		{Webhook{URLEnv: "MISSING"}, "approval.notify.webhook.urlEnv: environment variable MISSING is not set"},
		{Webhook{URL: "http://a/", HeadersEnv: map[string]string{"X-T": "EMPTY"}}, "approval.notify.webhook.headersEnv.X-T: environment variable EMPTY is not set"},
	} {
		if _, _, err := tc.w.Resolve(lookup); err == nil || err.Error() != tc.want {
			t.Errorf("Resolve() error %v, want %s", err, tc.want)
		}
	}
	if url, _, err := (&Webhook{URL: "http://a/"}).Resolve(lookup); err != nil || url != "http://a/" {
		t.Errorf("Resolve() of a plain url = %q, %v", url, err)
	}
}

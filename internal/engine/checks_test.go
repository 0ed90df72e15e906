package engine

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/cutover/cutover/internal/config"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/strategy"
	"github.com/cutover/cutover/internal/verify"
)

// TestCheckPlanBuildsEachStagesChecks: which checks run at which stage for
// which color, and what a command check is told. Command checks need no
// cluster to build, so the plan's decisions are tested on their own.
func TestCheckPlanBuildsEachStagesChecks(t *testing.T) {
	run := Run{Clients: &kube.Clients{Namespace: "prod"}, App: "web"}
	defs := CheckSet{
		{Stage: config.StageStaged, Build: CommandCheck("staged-only", nil, "", "http://web-{color}/")},
		{Stage: config.StageProd, Build: CommandCheck("prod-only", map[string]string{"COLOR": "{color}"}, "", "")},
		{Stage: config.StageBoth, Build: CommandCheck("both", nil, "", "")},
	}
	type want struct {
		stage, color string
		checks       []string
	}
	cases := []struct {
		name   string
		plan   CheckPlan
		colors []string
		want   []want
	}{
		{"rolling: Verify runs the prod and both checks, for no color", CheckPlan{Defs: defs}, nil, []want{
			{strategy.StageVerify, "", []string{"prod-only", "both"}},
			{strategy.StageVerifyStaged, "", nil}, // a rolling update has no staged color
		}},
		{"blue/green: each stage its own, per color", CheckPlan{Defs: defs}, []string{"blue", "green"}, []want{
			{strategy.StageVerifyStaged, "green", []string{"staged-only", "both"}},
			{strategy.StageVerifyProd, "green", []string{"prod-only", "both"}},
			{strategy.StageVerifyProd, "blue", []string{"prod-only", "both"}},
			{strategy.StageVerifyProd, "", nil}, // no color: nothing was built
		}},
		{"no checks", CheckPlan{}, []string{"blue"}, []want{{strategy.StageVerifyStaged, "blue", nil}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			built, err := tc.plan.forColors(context.Background(), run, tc.colors...)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				var got []string
				for _, s := range built(w.stage, w.color) {
					got = append(got, s.Check.(*verify.Command).Run)
				}
				if !slices.Equal(got, w.checks) {
					t.Errorf("%s, color %q: checks %v, want %v", w.stage, w.color, got, w.checks)
				}
			}
		})
	}
}

func TestCommandCheckIsToldWhatItVerifies(t *testing.T) {
	run := Run{Clients: &kube.Clients{Namespace: "prod"}, App: "web"}
	defs := CheckSet{{Build: CommandCheck("check", map[string]string{"HOST": "web-{color}"}, "", "http://web-{color}/")}}
	cases := []struct {
		name    string
		roleVar string
		color   string
		want    map[string]string
	}{
		{"the default role variable", "", "green", map[string]string{"APP": "web", "NAMESPACE": "prod", "CUTOVER_STAGE": "prod",
			"TARGET_ROLE": "green", "TEST_URL": "http://web-green/", "HOST": "web-green"}},
		{"a role variable of its own, TARGET_ROLE too", "COLOR", "blue", map[string]string{"APP": "web", "NAMESPACE": "prod",
			"CUTOVER_STAGE": "prod", "COLOR": "blue", "TARGET_ROLE": "blue", "TEST_URL": "http://web-blue/", "HOST": "web-blue"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			specs, err := CheckPlan{Defs: defs, RoleVar: tc.roleVar}.forProd(context.Background(), run, tc.color)
			if err != nil {
				t.Fatal(err)
			}
			if len(specs) != 1 {
				t.Fatalf("%d checks, want 1", len(specs))
			}
			if got := specs[0].Check.(*verify.Command).Env; !maps.Equal(got, tc.want) {
				t.Errorf("env %v\nwant %v", got, tc.want)
			}
			if specs[0].Policy.Settle != settle {
				t.Errorf("settle %s, want the default %s", specs[0].Policy.Settle, settle)
			}
		})
	}
}

package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

// loadText writes text to cutover.yaml in a fresh working directory and
// loads it, so that errors start with "cutover.yaml: ".
func loadText(t *testing.T, text string) (*Config, error) {
	t.Helper()
	t.Chdir(t.TempDir())
	if err := os.WriteFile("cutover.yaml", []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load("cutover.yaml")
}

func fullConfig() *Config {
	return &Config{
		App:             "tomcat",
		Namespace:       "web",
		Strategy:        StrategyBlueGreen,
		Files:           []string{"testdata/k8s/tomcat-deployment.yaml", "testdata/k8s/services/*.yaml"},
		Vars:            map[string]string{"TOMCAT_VERSION": "8.0", "REPLICAS": "2"},
		VarFiles:        []string{"testdata/env/prod.env"},
		SecretVars:      []string{"DB_PASSWORD"},
		StrictVars:      ptr(true),
		Timeout:         ptr(10 * time.Minute),
		RollbackTimeout: ptr(5 * time.Minute),
		NoRollback:      ptr(false),
		Strict:          ptr(false),
		ForceConflicts:  ptr(false),
		EndpointGuard:   EndpointGuard{Enabled: ptr(true), Grace: ptr(3 * time.Second)},
		TakeOverFrom:    []string{"kubectl-client-side-apply", "kubectl-edit"},
		BlueGreen: BlueGreen{
			Service: "tomcat-service", SelectorKey: "role", RoleVar: "TARGET_ROLE",
			Colors: []string{"blue", "green"}, IdlePolicy: "scale-down", ScaleDownDelay: ptr(30 * time.Second), Managed: ptr(false),
		},
		Canary: Canary{
			Steps: []CanaryStep{{SetWeight: ptr(10)}, {Analysis: "error rate"}, {SetWeight: ptr(50)},
				{Pause: &Pause{Duration: ptr(time.Minute)}}, {Pause: &Pause{}}},
			ScaleDownDelay: ptr(30 * time.Second), AbortScaleDownDelay: ptr(5 * time.Second), DynamicStableScale: ptr(false),
			ProxySyncDelay: ptr(time.Second),
			HTTPRoute:      "web",
			HeaderRoute:    &HeaderRoute{Name: "X-Canary", Value: "always"},
			StableService:  "web-primary", CanaryService: "web-canary",
			Analysis: "canary errors",
		},
		Checks: []Check{{
			Name: "tomcat test endpoint", Stage: StageStaged,
			HTTP: &HTTPCheck{
				Service: &ServiceTarget{Name: "tomcat-test-{color}", Port: "80", Path: "/"},
				Status:  []int{200}, Contains: "Apache Tomcat/8",
			},
			Attempts: ptr(31), Interval: ptr(10 * time.Second), Timeout: ptr(5 * time.Second), SuccessesInRow: ptr(2),
		}, {
			Stage: StageProd,
			HTTP: &HTTPCheck{
				URL:    "https://tomcat.example.com/health?color={color}",
				Status: []int{200, 204}, Matches: `"status":\s*"(ok|UP)"`, InsecureSkipVerify: ptr(true),
				Headers: map[string]string{"Host": "tomcat.example.com"},
			},
		}, {
			Command: &CommandCheck{
				Run: `./smoke-test.sh "$BASE_URL"`,
				Env: map[string]string{"BASE_URL": "https://tomcat.example.com"},
			},
			Attempts: ptr(3),
		}, {
			Stage:    StageStaged,
			Job:      &JobCheck{File: "testdata/k8s/smoke-test-job.yaml"},
			Attempts: ptr(1), Timeout: ptr(5 * time.Minute),
		}, {
			Name: "error rate",
			Analysis: &AnalysisCheck{Metrics: []Metric{{
				Name: "error-share",
				Prometheus: &PrometheusMetric{Address: "http://prometheus.monitoring:9090",
					Query: `sum(rate(http_requests_total{service="tomcat-test-{color}",code=~"5.."}[1m])) / sum(rate(http_requests_total{service="tomcat-test-{color}"}[1m]))`},
				Interval: ptr(30 * time.Second), Count: ptr(4), InitialDelay: ptr(30 * time.Second),
				SuccessCondition: "size(result) == 1 && result[0] < 0.01", FailureCondition: "size(result) == 1 && result[0] > 0.05",
				FailureLimit: ptr(1), InconclusiveLimit: ptr(1), ConsecutiveErrorLimit: ptr(2),
			}, {
				Name: "p99 latency",
				Web: &WebMetric{URL: "https://metrics.example.com/p99?app={{.App}}&color={color}",
					Headers: map[string]string{"Accept": "application/json"}, JSONPath: "{.p99_ms}"},
				SuccessCondition: "result < 500.0",
			}, {
				Name:             "error budget",
				Command:          &CommandMetric{Run: "./error-budget.sh {{.Namespace}}"},
				FailureCondition: "result == 'exhausted'",
			}, {
				Name: "load test",
				Job:  &JobCheck{File: "testdata/jobs/load-test.yaml"},
			}}},
		}, {
			Name: "canary errors",
			Analysis: &AnalysisCheck{Metrics: []Metric{{
				Name: "canary 5xx",
				Prometheus: &PrometheusMetric{Address: "http://prometheus.monitoring:9090",
					Query: `sum(rate(http_requests_total{service="{{.CanaryService}}",code=~"5.."}[30s]) or vector(0)) / sum(rate(http_requests_total{service="{{.CanaryService}}"}[30s]))`},
				Interval:         ptr(5 * time.Second),
				SuccessCondition: "size(result) == 1 && result[0] < 0.01", FailureCondition: "size(result) == 1 && result[0] >= 0.01",
			}}},
		}},
		Approval: Approval{
			Mode: ApprovalManual, Timeout: ptr(time.Hour),
			Notify: Notify{
				Webhook: &Webhook{
					URLEnv:     "APPROVAL_WEBHOOK_URL",
					Headers:    map[string]string{"Content-Type": "application/json"},
					HeadersEnv: map[string]string{"Authorization": "APPROVAL_WEBHOOK_TOKEN"},
				},
				SMTP: &SMTP{
					Host: "smtp.example.com", Port: ptr(587), TLS: TLSStartTLS,
					Username: "cutover", PasswordEnv: "SMTP_PASSWORD", From: "cutover <cutover@example.com>",
					To: []string{"ops@example.com", "Release Manager <rm@example.com>"},
				},
			},
		},
		File: "testdata/full.yaml",
	}
}

func TestLoadFull(t *testing.T) {
	got, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if want := fullConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("Load(full.yaml):\n got %+v\nwant %+v", got, want)
	}
}

func TestLoadMinimal(t *testing.T) {
	for name, text := range map[string]string{
		"empty":         "",
		"comments only": "# nothing yet\n",
		"null document": "~\n",
		"null sections": "blueGreen:\napproval:\nchecks:\ntimeout:\n",
	} {
		t.Run(name, func(t *testing.T) {
			got, err := loadText(t, text)
			if err != nil {
				t.Fatal(err)
			}
			if want := (&Config{File: "cutover.yaml"}); !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestLoadUnknownKeys(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"apps: web\n", `cutover.yaml: line 1: unknown key "apps" (did you mean "app"?)`},
		{"app: web\n\nblueGreen:\n  service: web\n  colours: [a, b]\n",
			`cutover.yaml: line 5: unknown key "blueGreen.colours" (did you mean "colors"?)`},
		{"Timeout: 5m\n", `cutover.yaml: line 1: unknown key "Timeout" (did you mean "timeout"?)`},
		{"checks:\n- http: {url: http://a/, body: x}\n", `cutover.yaml: line 2: unknown key "checks[0].http.body"`},
		{"checks:\n- http:\n    service: {name: a, namespace: b}\n",
			`cutover.yaml: line 3: unknown key "checks[0].http.service.namespace"`},
		{"checks:\n- command: {run: x, shell: bash}\n", `cutover.yaml: line 2: unknown key "checks[0].command.shell"`},
		{"checks:\n- job: {file: j.yaml, name: x}\n", `cutover.yaml: line 2: unknown key "checks[0].job.name"`},
		{"checks:\n- job: {file: j.yaml}\n  retries: 3\n", `cutover.yaml: line 3: unknown key "checks[0].retries"`},
		{"approval:\n  mode: manual\n  notify:\n    slack: {}\n", `cutover.yaml: line 4: unknown key "approval.notify.slack"`},
		{"approval:\n  notify:\n    webhook: {url: http://a/, method: PUT}\n",
			`cutover.yaml: line 3: unknown key "approval.notify.webhook.method"`},
		{"approval:\n  notify:\n    smtp: {host: h, password: x}\n",
			`cutover.yaml: line 3: unknown key "approval.notify.smtp.password" (did you mean "passwordEnv"?)`},
		{"File: x\n", `cutover.yaml: line 1: unknown key "File" (did you mean "files"?)`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := loadText(t, tc.text)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got error\n  %v\nwant\n  %s", err, tc.want)
			}
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrUnknownKey) {
				t.Errorf("want an *Error wrapping ErrUnknownKey, got %#v", err)
			}
		})
	}
}

func TestLoadAllProblemsAtOnce(t *testing.T) {
	_, err := loadText(t, "apps: a\nstrategy: linear\ntimeout: 0s\n")
	want := `cutover.yaml: line 1: unknown key "apps" (did you mean "app"?)`
	if err == nil || err.Error() != want { // decoding problems first: values are not checked then
		t.Fatalf("got %v, want %s", err, want)
	}
	_, err = loadText(t, "strategy: linear\ntimeout: 0s\n")
	want = "cutover.yaml: line 1: strategy: want one of rolling, blue-green, canary, got \"linear\"\n" +
		"cutover.yaml: line 2: timeout: want a duration above zero, got 0s"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestLoadResolvesPathsAgainstTheFilesDirectory(t *testing.T) {
	root := t.TempDir()
	abs := filepath.Join(root, "elsewhere", "x.yaml")
	text := "files:\n- k8s/*.yaml\n- ./app.yaml\n- ../shared/**/*.yaml\n- " + abs + "\n- '-'\n" +
		"varFiles: [prod.env]\nchecks:\n- job: {file: jobs/smoke.yaml}\n"
	if err := os.MkdirAll(filepath.Join(root, "deploy"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "deploy", "cutover.yaml"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(root)
	cfg, err := Load("deploy/cutover.yaml")
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []string{"deploy/k8s/*.yaml", "deploy/app.yaml", "shared/**/*.yaml", abs, "-"}
	if !reflect.DeepEqual(cfg.Files, wantFiles) {
		t.Errorf("files = %q, want %q", cfg.Files, wantFiles)
	}
	if want := []string{"deploy/prod.env"}; !reflect.DeepEqual(cfg.VarFiles, want) {
		t.Errorf("varFiles = %q, want %q", cfg.VarFiles, want)
	}
	if got, want := cfg.Checks[0].Job.File, "deploy/jobs/smoke.yaml"; got != want {
		t.Errorf("job file = %q, want %q", got, want)
	}

	cfg, err = Load(filepath.Join(root, "deploy", "cutover.yaml")) // an absolute config path gives absolute paths
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Files[0], filepath.Join(root, "deploy", "k8s", "*.yaml"); got != want {
		t.Errorf("files[0] = %q, want %q", got, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "cutover.yaml"))
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "read config: open ") {
		t.Errorf("got %v, want a read config error wrapping os.ErrNotExist", err)
	}
}

func TestLoadAnchorsAndMergeKeys(t *testing.T) {
	text := `
checks:
- http: &probe {url: "http://a/", status: [200]}
  <<: &policy {attempts: 5, interval: 2s}
- http: *probe
  <<: [*policy, {attempts: 9, timeout: 1s}]
  attempts: 7
`
	cfg, err := loadText(t, text)
	if err != nil {
		t.Fatal(err)
	}
	c0, c1 := cfg.Checks[0], cfg.Checks[1]
	if *c0.Attempts != 5 || *c0.Interval != 2*time.Second || c0.HTTP.URL != "http://a/" {
		t.Errorf("checks[0] = %+v", c0)
	}
	// Own keys win over merged ones; among merged mappings the first wins.
	if *c1.Attempts != 7 || *c1.Interval != 2*time.Second || *c1.Timeout != time.Second || c1.HTTP.Status[0] != 200 {
		t.Errorf("checks[1] = %+v", c1)
	}
	if c0.HTTP == c1.HTTP {
		t.Error("an alias shares the decoded value")
	}
}

func TestLoadUnknownKeyInMergedMapping(t *testing.T) {
	_, err := loadText(t, "checks:\n- <<: {attempt: 3}\n  http: {url: http://a/}\n")
	want := `cutover.yaml: line 2: unknown key "checks[0].attempt" (did you mean "attempts"?)`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestLoadStringsAsWritten(t *testing.T) {
	cfg, err := loadText(t, "vars:\n  V: 8.0\n  N: 010\n  B: true\n  E: ''\n")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"V": "8.0", "N": "010", "B": "true", "E": ""}
	if !reflect.DeepEqual(cfg.Vars, want) {
		t.Errorf("vars = %q, want %q", cfg.Vars, want)
	}
}

// TestFullExampleIsInTheDocs keeps docs/config.md's example the one the
// tests load.
func TestFullExampleIsInTheDocs(t *testing.T) {
	full, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```yaml\n"+string(full)+"```\n") {
		t.Error("docs/config.md does not hold testdata/full.yaml verbatim in a ```yaml block: copy it over")
	}
}

// TestFullExampleSetsEveryKey keeps testdata/full.yaml (and so the docs)
// complete as fields are added.
func TestFullExampleSetsEveryKey(t *testing.T) {
	set := map[string]bool{}
	collectSet(reflect.ValueOf(fullConfig()).Elem(), "", set)
	exclusive := map[string]bool{ // the other one of a pair that cannot be set together
		"approval.notify.webhook.url": true, // urlEnv is set
	}
	for _, key := range typeKeys(reflect.TypeFor[Config](), "") {
		if !set[key] && !exclusive[key] {
			t.Errorf("testdata/full.yaml does not set %s", key)
		}
	}
}

// collectSet records the keys (list indexes left out) that v sets.
func collectSet(v reflect.Value, path string, set map[string]bool) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			set[path] = true
			collectSet(v.Elem(), path, set)
		}
	case reflect.Struct:
		set[path] = set[path] || path != "" && !v.IsZero() // another element, or the pointer to it, may have set it
		for i := range v.NumField() {
			if name := jsonName(v.Type().Field(i)); name != "" {
				collectSet(v.Field(i), field(path, name), set)
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			set[path] = true
			collectSet(v.Index(i), path, set)
		}
	default:
		if !v.IsZero() {
			set[path] = true
		}
	}
}

// typeKeys lists every key of t: structs' fields, recursively.
func typeKeys(t reflect.Type, path string) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	var out []string
	if path != "" {
		out = append(out, path)
	}
	if t.Kind() != reflect.Struct {
		return out
	}
	for i := range t.NumField() {
		if name := jsonName(t.Field(i)); name != "" {
			out = append(out, typeKeys(t.Field(i).Type, field(path, name))...)
		}
	}
	return out
}

func TestLoadAliasBomb(t *testing.T) {
	text := "checks:\n- <<: &a0 {attempts: 1}\n  command: {run: x}\n"
	for i := 1; i <= 6; i++ { // 10^6 merged keys at the end
		refs := strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", ")
		text += fmt.Sprintf("- <<: &a%d {<<: [%s]}\n  command: {run: x}\n", i, refs)
	}
	t.Chdir(t.TempDir())
	if err := os.WriteFile("cutover.yaml", []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := Load("cutover.yaml"); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "more than 100000 values, aliases expanded") {
			t.Fatalf("got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Load is still expanding aliases after 10s")
	}
}

// TestLoadTakeOverFrom tells "not given" (the default managers) from an
// empty list (no one).
func TestLoadTakeOverFrom(t *testing.T) {
	for text, want := range map[string][]string{
		"app: web\n":                     nil,
		"takeOverFrom: []\n":             {},
		"takeOverFrom: [kubectl-edit]\n": {"kubectl-edit"},
	} {
		got, err := loadText(t, text)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.TakeOverFrom, want) {
			t.Errorf("%q: TakeOverFrom = %#v, want %#v", text, got.TakeOverFrom, want)
		}
	}
}

package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cutover/cutover/internal/testinfra/testbed"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Secret values in these tests are made of runs of letters and digits that
// appear nowhere else, so that a leak is found even when it is printed
// escaped (a quote as \", a backslash as \\) or cut: every run of six or
// more of them is looked for, as well as the whole value and its base64.

// secretApp is a rolling-update app with a Secret (stringData and data)
// and a Deployment that takes the --secret-var API_TOKEN in an env var and
// an annotation.
const secretApp = `apiVersion: v1
kind: Secret
metadata:
  name: app-secret
stringData:
  password: ${DB_PASSWORD}
data:
  token: ${TOKEN_B64}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
data:
  version: "${VERSION}"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  annotations:
    example.com/api-token: ${API_TOKEN}
spec:
  replicas: 1
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
      annotations:
        example.com/api-token: ${API_TOKEN}
        testbed.cutover.dev/ready-after: 100ms
    spec:
      containers:
      - name: app
        image: app:${VERSION}
        env:
        - name: API_TOKEN
          value: ${API_TOKEN}
`

// secretValues are the values a test must never see printed.
type secretValues struct {
	password string // a Secret's stringData value (a plain --var)
	token    string // a Secret's data value, given base64-encoded (a plain --var)
	apiToken string // a --secret-var, in an env var and annotations
}

func newSecretValues(t *testing.T) secretValues {
	// The test name keeps the values of parallel tests apart.
	tag := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, t.Name())
	if len(tag) > 12 {
		tag = tag[len(tag)-12:]
	}
	return secretValues{
		password: "pwQ7x" + tag + "Secret",
		token:    "tkZ9k" + tag + "Secret",
		apiToken: "atK4m" + tag + "Secret",
	}
}

func (v secretValues) all() []string { return []string{v.password, v.token, v.apiToken} }

// vars are the variables of secretApp; API_TOKEN is a --secret-var.
func (v secretValues) vars(version string) []string {
	return []string{"--var", "DB_PASSWORD=" + v.password, "--var", "TOKEN_B64=" + base64.StdEncoding.EncodeToString([]byte(v.token)),
		"--var", "API_TOKEN=" + v.apiToken, "--secret-var", "API_TOKEN", "--var", "VERSION=" + version}
}

var alnumRun = regexp.MustCompile(`[A-Za-z0-9]{6,}`)

// leaks returns the forms of secret found in text: the value, its
// base64, or a run of six or more of its letters and digits.
func leaks(text, secret string) []string {
	var found []string
	forms := append([]string{secret, base64.StdEncoding.EncodeToString([]byte(secret))}, alnumRun.FindAllString(secret, -1)...)
	for _, f := range forms {
		if strings.Contains(text, f) {
			found = append(found, f)
		}
	}
	return found
}

// assertNotPrinted fails if any secret shows in text, which is where.
func assertNotPrinted(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if l := leaks(text, s); len(l) > 0 {
			t.Errorf("%s shows a secret (%q):\n%s", where, l, text)
		}
	}
}

// assertRunNotPrinted checks stdout and stderr of a run.
func assertRunNotPrinted(t *testing.T, what string, r result, secrets ...string) {
	t.Helper()
	assertNotPrinted(t, what+": stdout", r.stdout, secrets...)
	assertNotPrinted(t, what+": stderr", r.stderr, secrets...)
}

// records returns the text of every release record in ns.
func records(t *testing.T, ns string) string {
	t.Helper()
	list, err := cluster.Client.CoreV1().ConfigMaps(ns).List(context.Background(),
		metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=cutover"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(list.Items)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// assertSecretInCluster checks that the values are where they belong, so
// that the absence checks are not vacuous.
func assertSecretInCluster(t *testing.T, ns, secret, deployment string, v secretValues) {
	t.Helper()
	ctx := context.Background()
	s, err := cluster.Client.CoreV1().Secrets(ns).Get(ctx, secret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(s.Data["password"]) != v.password || string(s.Data["token"]) != v.token {
		t.Errorf("secret %s does not hold the values: %q", secret, s.Data)
	}
	d := getDeployment(t, ns, deployment)
	if d.Annotations["example.com/api-token"] != v.apiToken || d.Spec.Template.Spec.Containers[0].Env[0].Value != v.apiToken {
		t.Errorf("deployment %s does not hold the --secret-var value", deployment)
	}
}

func TestSecretValuesNeverPrintedRolling(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	v := newSecretValues(t)
	file := writeFile(t, "app.yaml", secretApp)
	args := func(version string, extra ...string) []string {
		return append(append([]string{"deploy", "-f", file}, v.vars(version)...), extra...)
	}
	// The first deploy creates, the second configures, the dry run plans:
	// in JSON and in text.
	for _, run := range []struct {
		what string
		args []string
	}{
		{"deploy -o json", args("1", "-o", "json")},
		{"deploy -o text", args("2", "-o", "text")},
		{"deploy --dry-run -o json", args("3", "--dry-run", "-o", "json")},
		{"deploy --dry-run -o text", args("3", "--dry-run", "-o", "text")},
	} {
		r := cutover(t, ns, "", run.args...)
		if r.code != exitOK {
			t.Fatalf("%s exited %d", run.what, r.code)
		}
		assertRunNotPrinted(t, run.what, r, v.all()...)
	}
	// --debug logs every API request, never a body.
	r := cutover(t, ns, "", args("4", "--debug", "-o", "json")...)
	if r.code != exitOK {
		t.Fatalf("deploy --debug exited %d", r.code)
	}
	for _, want := range []string{`msg="api request" method=PATCH url="/apis/apps/v1/namespaces/` + ns + `/deployments/app?`, "status=200"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("deploy --debug: stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	assertRunNotPrinted(t, "deploy --debug", r, v.all()...)
	assertSecretInCluster(t, ns, "app-secret", "app", v)
}

func TestSecretValuesMaskedByRender(t *testing.T) {
	t.Parallel()
	v := newSecretValues(t)
	file := writeFile(t, "app.yaml", secretApp)
	r := cutover(t, "", "", append([]string{"render", "-f", file}, v.vars("1")...)...)
	if r.code != exitOK {
		t.Fatalf("render exited %d", r.code)
	}
	assertRunNotPrinted(t, "render", r, v.all()...)
	if !strings.Contains(r.stdout, "***") {
		t.Errorf("render shows no mask: %s", r.stdout)
	}
	// --show-secrets shows the Secret's values, and still masks the
	// --secret-var: it is a secret wherever it is used.
	r = cutover(t, "", "", append([]string{"render", "-f", file, "--show-secrets"}, v.vars("1")...)...)
	if r.code != exitOK {
		t.Fatalf("render --show-secrets exited %d", r.code)
	}
	if !strings.Contains(r.stdout, v.password) {
		t.Errorf("render --show-secrets does not show the Secret's stringData: %s", r.stdout)
	}
	assertNotPrinted(t, "render --show-secrets", r.stdout+r.stderr, v.apiToken)
}

// TestSecretValuesNeverPrintedOnFailure fails runs in ways whose messages
// could carry a value: a check URL holding the --secret-var, a failing
// check, a Secret or an object the server rejects.
func TestSecretValuesNeverPrintedOnFailure(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	cases := []struct {
		name string
		// files replaces secretApp; args come after the variables.
		files    string
		args     func(v secretValues) []string
		wantCode int
		// wantMask: the run's stderr must show the mask *** (where a
		// --secret-var value was in the message).
		wantMask bool
	}{
		{"check URL with the secret in its query", secretApp, func(v secretValues) []string {
			return []string{"--verify-url", srv.URL + "/health?token=" + v.apiToken, "--verify-attempts", "2", "--verify-interval", "20ms"}
		}, exitRolledBack, false},
		{"check URL with the secret in its path", secretApp, func(v secretValues) []string {
			return []string{"--verify-url", srv.URL + "/" + v.apiToken + "/health", "--verify-attempts", "2", "--verify-interval", "20ms"}
		}, exitRolledBack, true},
		{"check URL with the secret as userinfo", secretApp, func(v secretValues) []string {
			return []string{"--verify-url", "http://user:" + v.apiToken + "@" + strings.TrimPrefix(srv.URL, "http://") + "/health",
				"--verify-attempts", "2", "--verify-interval", "20ms"}
		}, exitRolledBack, false},
		{"unreachable check URL", secretApp, func(v secretValues) []string {
			return []string{"--verify-url", "http://127.0.0.1:1/" + v.apiToken + "?token=" + v.apiToken, "--verify-attempts", "2", "--verify-interval", "20ms"}
		}, exitRolledBack, true},
		{"invalid Secret key", strings.Replace(secretApp, "  password: ${DB_PASSWORD}", "  pass word!: ${DB_PASSWORD}", 1),
			func(secretValues) []string { return nil }, exitBadInput, false},
		{"invalid docker config Secret", `apiVersion: v1
kind: Secret
metadata:
  name: app-registry
type: kubernetes.io/dockerconfigjson
stringData:
  .dockerconfigjson: '{"auths": ${DB_PASSWORD}'
data:
  token: ${TOKEN_B64}
`, func(secretValues) []string { return nil }, exitBadInput, false},
		{"Secret data that is not base64", strings.Replace(secretApp, "  token: ${TOKEN_B64}", "  token: ${DB_PASSWORD}!!", 1),
			func(secretValues) []string { return nil }, exitBadInput, false},
		{"--secret-var in an invalid label value", strings.Replace(secretApp, "      labels: {app: app}\n",
			"      labels: {app: app, token: \"${API_TOKEN} x\"}\n", 1),
			func(secretValues) []string { return nil }, exitBadInput, true},
		{"--secret-var in an invalid env var name", strings.Replace(secretApp, "        - name: API_TOKEN\n",
			"        - name: \"${API_TOKEN}=\"\n", 1),
			func(secretValues) []string { return nil }, exitBadInput, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := cluster.Namespace(t)
			v := newSecretValues(t)
			file := writeFile(t, "app.yaml", secretApp)
			if r := cutover(t, ns, "", append([]string{"deploy", "-f", file, "-o", "json"}, v.vars("1")...)...); r.code != exitOK {
				t.Fatalf("first deploy exited %d", r.code)
			}
			before := snapshot(t, ns)
			bad := writeFile(t, "bad.yaml", tc.files)
			for _, format := range []string{"json", "text"} {
				args := append(append([]string{"deploy", "-f", bad, "-o", format}, v.vars("2")...), tc.args(v)...)
				r := cutover(t, ns, "", args...)
				if r.code != tc.wantCode {
					t.Fatalf("-o %s: exit %d, want %d", format, r.code, tc.wantCode)
				}
				assertRunNotPrinted(t, "-o "+format, r, v.all()...)
				if tc.wantMask && !strings.Contains(r.stdout+r.stderr, "***") {
					t.Errorf("-o %s: the message should show the --secret-var masked as ***:\n%s\n%s", format, r.stdout, r.stderr)
				}
			}
			if tc.wantCode == exitBadInput {
				if after := snapshot(t, ns); strings.Join(before, " ") != strings.Join(after, " ") {
					t.Errorf("refused, yet the namespace changed")
				}
			}
			assertSecretInCluster(t, ns, "app-secret", "app", v)
		})
	}
}

// bgSecretApp is the blue/green example with a Secret per color and the
// --secret-var API_TOKEN in the Deployment.
func bgSecretApp(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"tomcat-service.yaml", "tomcat-test-service.yaml"} {
		b, err := os.ReadFile(filepath.Join("../../examples/blue-green", f))
		if err != nil {
			t.Fatal(err)
		}
		writeIn(t, dir, f, string(b))
	}
	writeIn(t, dir, "app.yaml", `apiVersion: v1
kind: Secret
metadata:
  name: tomcat-secret-${TARGET_ROLE}
stringData:
  password: ${DB_PASSWORD}
data:
  token: ${TOKEN_B64}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: tomcat-deployment-${TARGET_ROLE}
  annotations:
    example.com/api-token: ${API_TOKEN}
spec:
  replicas: 1
  selector:
    matchLabels: {app: tomcat, role: "${TARGET_ROLE}"}
  template:
    metadata:
      labels: {app: tomcat, role: "${TARGET_ROLE}"}
      annotations:
        example.com/api-token: ${API_TOKEN}
    spec:
      containers:
      - name: tomcat
        image: tomcat:${VERSION}
        env:
        - name: API_TOKEN
          value: ${API_TOKEN}
`)
	return dir
}

func TestSecretValuesNeverInReleaseRecords(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	v := newSecretValues(t)
	dir := bgSecretApp(t)
	srv := colorServer(t, "blue") // 9 goes to blue, and fails there
	deploy := func(version string, extra ...string) result {
		args := append([]string{"deploy", "--strategy", "blue-green", "-f", dir, "--service", "tomcat-service", "-o", "json"},
			v.vars(version)...)
		return cutover(t, ns, "", append(args, extra...)...)
	}
	r := deploy("7")
	if r.code != exitOK {
		t.Fatalf("first deploy exited %d", r.code)
	}
	assertRunNotPrinted(t, "first deploy", r, v.all()...)
	// 7 to 8 approved; then 9, whose check (holding the --secret-var) fails
	// at Verify Staged.
	done := make(chan result, 1)
	go func() { done <- deploy("8", "--approval", "manual", "--approval-timeout", "1m") }()
	if d := decideWhenPending(t, ns, "approve"); d.code != exitOK {
		t.Fatalf("approve exited %d", d.code)
	}
	if r := <-done; r.code != exitOK {
		t.Fatalf("7 to 8 exited %d", r.code)
	} else {
		assertRunNotPrinted(t, "7 to 8", r, v.all()...)
	}
	r = deploy("9", "--verify-url", srv.URL+"/{color}?token="+v.apiToken+"&x="+v.apiToken, "--verify-attempts", "2", "--verify-interval", "20ms")
	if r.code != exitFailed {
		t.Fatalf("failing check: exit %d, want %d", r.code, exitFailed)
	}
	assertRunNotPrinted(t, "failing check", r, v.all()...)
	assertSecretInCluster(t, ns, "tomcat-secret-green", "tomcat-deployment-green", v)
	assertSecretInCluster(t, ns, "tomcat-secret-blue", "tomcat-deployment-blue", v)

	assertNotPrinted(t, "release records", records(t, ns), v.all()...)
	for _, args := range [][]string{
		{"status", "tomcat-service"}, {"status", "tomcat-service", "-o", "json"},
		{"history", "tomcat-service"}, {"history", "tomcat-service", "-o", "json"},
	} {
		r := cutover(t, ns, "", args...)
		if r.code != exitOK {
			t.Fatalf("%v exited %d", args, r.code)
		}
		assertRunNotPrinted(t, strings.Join(args, " "), r, v.all()...)
	}
	if rec := latestRecord(t, ns); rec.Revision != 3 || rec.Error == "" {
		t.Errorf("the failed release's record: revision %d, error %q; want 3 with the error", rec.Revision, rec.Error)
	}
}

// TestSecretVarWithCharactersTheServerEscapes gives the --secret-var a
// quote and a backslash: the API server quotes values it rejects (Go %q),
// so the message holds the value escaped, not as given.
func TestSecretVarWithCharactersTheServerEscapes(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	secret := `esQ3v"` + "Xk7Jw9" + `\` + "Lm2Np8"
	files := writeFile(t, "app.yaml", `apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
  labels:
    token: ${API_TOKEN}
`)
	r := cutover(t, ns, "", "deploy", "-f", files, "-o", "json", "--var", "API_TOKEN="+secret, "--secret-var", "API_TOKEN")
	if r.code != exitBadInput {
		t.Fatalf("exit %d, want %d", r.code, exitBadInput)
	}
	if l := leaks(r.stdout+r.stderr, secret); len(l) > 0 {
		t.Errorf("the secret shows, escaped by the server's message: %q", l)
	}
	if !strings.Contains(r.stderr, "metadata.labels") {
		t.Errorf("the refusal should name the field: %s", r.stderr)
	}
}

// writeIn writes content to dir/name.
func writeIn(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSecretNotEchoedByInputErrors: mistakes in how a secret is given
// (a bad variable name, a bad line in a variables file) must not print it.
func TestSecretNotEchoedByInputErrors(t *testing.T) {
	testbed.Require(t, cluster)
	t.Parallel()
	v := newSecretValues(t)
	file := writeFile(t, "app.yaml", secretApp)
	varFile := writeFile(t, "vars.env", "API_TOKEN=\""+v.apiToken+"\"x"+v.token+"\n")
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"bad --var name", []string{"--var", "API-TOKEN=" + v.apiToken, "--secret-var", "API-TOKEN"}, exitUsage},
		{"--var-file line with text after the quote", []string{"--var-file", varFile, "--secret-var", "API_TOKEN"}, exitBadInput},
	}
	for _, tc := range cases {
		for _, cmd := range []string{"render", "deploy"} {
			r := cutover(t, "", "", append([]string{cmd, "-f", file, "--kubeconfig", cluster.Kubeconfig, "-n", "default"}, tc.args...)...)
			if cmd == "render" {
				r = cutover(t, "", "", append([]string{cmd, "-f", file}, tc.args...)...)
			}
			if r.code != tc.code {
				t.Errorf("%s, %s: exit %d, want %d", tc.name, cmd, r.code, tc.code)
			}
			for _, s := range []string{v.apiToken, v.token} {
				if l := leaks(r.stdout+r.stderr, s); len(l) > 0 {
					t.Errorf("%s, %s: the error prints the value given (%q)", tc.name, cmd, l)
				}
			}
		}
	}
}

// TestSecretVarInImage: a --secret-var in an image reference (a private
// tag) is masked in the run's output; the release record keeps the images
// as rendered.
func TestSecretVarInImage(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	v := newSecretValues(t)
	dir := bgSecretApp(t)
	args := append([]string{"deploy", "--strategy", "blue-green", "-f", dir, "--service", "tomcat-service", "-o", "json"}, v.vars(v.password)...)
	r := cutover(t, ns, "", append(args, "--secret-var", "VERSION")...)
	if r.code != exitOK {
		t.Fatalf("exit %d", r.code)
	}
	assertRunNotPrinted(t, "deploy", r, v.all()...)
	if img := getDeployment(t, ns, "tomcat-deployment-blue").Spec.Template.Spec.Containers[0].Image; img != "tomcat:"+v.password {
		t.Fatalf("image %s, want the secret tag", img)
	}
	st := cutover(t, ns, "", "status", "tomcat-service", "-o", "json")
	for where, text := range map[string]string{"status": st.stdout, "records": records(t, ns)} {
		if l := leaks(text, v.password); len(l) > 0 {
			t.Errorf("%s shows the --secret-var in the images (%q)", where, l)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/testinfra/testbed"
	yaml "go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
)

// The bad-input corpus: every row runs the real CLI against the test bed
// and expects a refusal (exit 3, or 2 for a bad flag) whose message names
// the file, the document and the field (or the object, or the server and
// the reason), with the namespace exactly as it was before: prepared state
// (a deployed app) keeps the same resourceVersions. Rows that are not bad
// input (variables carrying YAML-looking values) expect exit 0 and check
// that the value stayed one literal string.
//
// The files live in testdata/badinput; the ones too big, binary or
// per-cluster to keep there are written by the row's files function into a
// temporary directory, "{tmp}" in args and wants.

const badInputDir = "testdata/badinput/"

// badCase is one row of the corpus.
type badCase struct {
	name string
	// setup prepares the namespace before the run (nil: no namespace: the
	// command touches no cluster, as render does).
	setup func(ctx context.Context, p *prepared) error
	// other asks for a second namespace, "{other}", snapshotted too.
	other bool
	// files writes generated inputs into "{tmp}".
	files func(t *testing.T, tmp string)
	stdin string
	// args, with "{ns}", "{other}" and "{tmp}" replaced. The test bed's
	// --kubeconfig and -n are appended when setup is set, unless ownKube.
	args    []string
	ownKube bool
	// wantCode is the exit code; wantInMessage are fragments of stderr.
	wantCode      int
	wantInMessage []string
	// within bounds the run's wall time (default a minute).
	within time.Duration
	// check runs further assertions on the result.
	check func(t *testing.T, r result)
}

func TestBadInput(t *testing.T) {
	testbed.Require(t, cluster)
	t.Parallel()
	cases := badInputCases()
	if len(cases) < 30 {
		t.Fatalf("the corpus has %d cases, want at least 30", len(cases))
	}
	// Each row starts preparing its state before it waits for its turn
	// (t.Parallel), so that all setups run at once, outside the -parallel
	// limit (2 on this machine): most of a setup is waiting for pods to
	// become ready.
	sem := make(chan struct{}, 8)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ready := make(chan *prepared, 1)
			go func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				ready <- prepare(tc)
			}()
			t.Parallel()
			p := <-ready
			t.Cleanup(p.cleanup)
			t.Logf("setup:\n%s", p.log.String())
			if p.err != nil {
				t.Fatalf("setup: %v", p.err)
			}
			runBadCase(t, tc, p)
		})
	}
}

func runBadCase(t *testing.T, tc badCase, p *prepared) {
	tmp := t.TempDir()
	if tc.files != nil {
		tc.files(t, tmp)
	}
	repl := strings.NewReplacer("{ns}", p.ns, "{other}", p.other, "{tmp}", tmp)
	args := make([]string, len(tc.args))
	for i, a := range tc.args {
		args[i] = repl.Replace(a)
	}
	kubeNS := ""
	if tc.setup != nil && !tc.ownKube {
		kubeNS = p.ns
	}
	before := p.snapshot(t)

	start := time.Now()
	r := cutover(t, kubeNS, tc.stdin, args...)
	took := time.Since(start)
	t.Logf("the run took %s", took.Round(time.Millisecond))

	if r.code != tc.wantCode {
		t.Errorf("exit %d, want %d", r.code, tc.wantCode)
	}
	for _, w := range tc.wantInMessage {
		if w = repl.Replace(w); !strings.Contains(r.stderr, w) {
			t.Errorf("stderr does not name %q", w)
		}
	}
	if tc.wantCode != exitOK && !strings.HasPrefix(r.stderr, "error: ") && !strings.Contains(r.stderr, "\nerror: ") {
		t.Errorf("stderr holds no error line")
	}
	assertCleanMessage(t, r)
	within := tc.within
	if within == 0 {
		within = time.Minute
	}
	if took > within {
		t.Errorf("took %s, want at most %s", took.Round(time.Millisecond), within)
	}
	if after := p.snapshot(t); !slices.Equal(before, after) {
		t.Errorf("the cluster changed:\nbefore %v\nafter  %v", before, after)
	}
	if tc.check != nil {
		tc.check(t, r)
	}
}

// assertCleanMessage refuses Go stack traces, panics and fmt's "%!" in what
// a person reads.
func assertCleanMessage(t *testing.T, r result) {
	t.Helper()
	for _, out := range []string{r.stderr, r.stdout} {
		for _, bad := range []string{"%!", "goroutine ", "panic:", "runtime error", "<nil>"} {
			if strings.Contains(out, bad) {
				t.Errorf("output holds %q:\n%s", bad, out)
			}
		}
		if goLine.MatchString(out) {
			t.Errorf("output holds a Go source location (a stack trace?):\n%s", out)
		}
	}
}

var goLine = regexp.MustCompile(`\.go:\d+`)

// bgArgs deploys the article's blue/green manifests, release 8.
var bgArgs = []string{"deploy", "--strategy", "blue-green", "-f", "../../examples/blue-green/",
	"--service", "tomcat-service", "--var", "TOMCAT_VERSION=8", "-o", "json"}

func argsPlus(base []string, extra ...string) []string { return append(slices.Clone(base), extra...) }

func badInputCases() []badCase {
	deploy := func(files ...string) []string {
		args := []string{"deploy", "-o", "json"}
		for _, f := range files {
			if !strings.HasPrefix(f, "{tmp}") && f != "-" {
				f = badInputDir + f
			}
			args = append(args, "-f", f)
		}
		return args
	}
	return []badCase{
		{
			// Under the limit: read and parsed without trouble, then
			// refused by the API server (request bodies are capped at 3 MiB).
			// First, as the slowest row.
			name: "20 MB file under the limit", setup: deployBase,
			files: func(t *testing.T, tmp string) {
				writeAt(t, tmp, "big.yaml", hugeConfigMap(20<<20))
			},
			args:          deploy("{tmp}/big.yaml"),
			wantCode:      exitBadInput,
			within:        2 * time.Minute, // 2 s without -race, 25 s with it
			wantInMessage: []string{"big.yaml", "document 1", "ConfigMap/{ns}/settings", "too large"},
		},
		// Malformed YAML and JSON.
		{
			name: "yaml bad indentation", setup: deployBase, args: deploy("bad-indent.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{"bad-indent.yaml", "document 2", "line 12", "malformed YAML"},
		},
		{
			name: "yaml tab indentation", setup: deployBase, args: deploy("tab.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{"tab.yaml", "document 2", "line 13", "malformed YAML", "cannot start any token"},
		},
		{
			name: "yaml unclosed quote", setup: deployBase, args: deploy("unclosed-quote.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{"unclosed-quote.yaml", "document 2", "line 13", "malformed YAML", "a quoted string is not closed"},
		},
		{
			name: "json trailing comma", setup: deployBase, args: deploy("malformed.json"), wantCode: exitBadInput,
			wantInMessage: []string{"malformed.json", "document 1", "line 5", "malformed JSON"},
		},
		{
			name: "document is a list", setup: deployBase, args: deploy("list-document.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{"list-document.yaml", "document 2", "line 8", "must be a mapping"},
		},
		{
			name: "duplicate key", setup: deployBase, args: deploy("duplicate-key.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{"duplicate-key.yaml", "document 1", "line 7", "data.greeting", `duplicate key "greeting"`},
		},
		{
			name: "anchors and aliases", setup: deployBase, args: deploy("aliases.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{"aliases.yaml", "document 1", "line 8", "data.a", "not supported"},
		},
		{
			name: "custom yaml tag", setup: deployBase, args: deploy("custom-tag.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{"custom-tag.yaml", "document 1", "data.greeting", "!!python/object:os.system", "not supported"},
		},

		// Objects the cluster cannot take.
		{
			name: "unknown kind", setup: deployBase, args: deploy("unknown-kind.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{"unknown-kind.yaml", "document 2", `kind: Widget/gadget: the cluster has no kind "Widget" in "v1"`},
		},
		// The article's manifests as pasted, and other removed API versions
		// (apiversions): the removal, its replacement and the field changes.
		{
			name: "the article's extensions/v1beta1 Deployment", setup: deployBase,
			args: append(deploy("../article/seed-rolling.yml"), "--var", "TOMCAT_VERSION=7"), wantCode: exitBadInput,
			wantInMessage: []string{"seed-rolling.yml", "document 1", "apiVersion: Deployment/tomcat-deployment-rolling-update",
				"extensions/v1beta1 Deployment was removed in Kubernetes 1.16: use apiVersion: apps/v1",
				"selector:\n    matchLabels:\n      app: tomcat\n      role: rolling-update", "cutover render --fix-api"},
		},
		// Fields and objects that are someone else's (apply.DefaultTakeOver
		// names whose cutover takes).
		{
			name: "a field a controller owns", setup: ownedBy("settings-controller"),
			files: func(t *testing.T, tmp string) {
				writeAt(t, tmp, "greeting.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  greeting: changed\n")
			},
			args: deploy("{tmp}/greeting.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{"greeting.yaml", "document 1", "ConfigMap/{ns}/settings", `conflict with "settings-controller"`, "--force-conflicts"},
		},
		{
			name: "an object a Helm release owns", setup: helmOwned, args: deploy("base.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{"base.yaml", "document 1", "metadata", `owned by Helm release "settings"`, "--take-ownership"},
		},
		{
			name: "the article's blue-green files", setup: deployBase,
			args: append(deploy("../article/seed-bluegreen.yml", "../article/seed-services.yml"), "--var", "TOMCAT_VERSION=7",
				"--strategy", "blue-green", "--service", "tomcat-service"), wantCode: exitBadInput,
			wantInMessage: []string{"seed-bluegreen.yml", "document 1", "apiVersion: Deployment/tomcat-deployment-blue",
				"extensions/v1beta1 Deployment was removed in Kubernetes 1.16: use apiVersion: apps/v1",
				"matchLabels:\n      app: tomcat\n      role: blue"},
		},
		{
			name: "Deployment without spec.selector", setup: deployBase, args: deploy("no-selector.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{"no-selector.yaml", "document 1", "spec.selector", "required in apps/v1",
				"matchLabels:\n      app: tomcat\n      role: rolling-update"},
		},
		{
			name: "removed Ingress version", setup: deployBase, args: deploy("removed-ingress.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{"removed-ingress.yaml", "networking.k8s.io/v1beta1 Ingress was removed in Kubernetes 1.22",
				"use apiVersion: networking.k8s.io/v1", "service.name", "pathType"},
		},
		{
			name: "removed CronJob version", setup: deployBase, args: deploy("removed-cronjob.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{"removed-cronjob.yaml", "batch/v1beta1 CronJob was removed in Kubernetes 1.25: use apiVersion: batch/v1"},
		},
		{
			name: "removed PodDisruptionBudget version", setup: deployBase, args: deploy("removed-pdb.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{"removed-pdb.yaml", "policy/v1beta1 PodDisruptionBudget was removed in Kubernetes 1.25",
				"use apiVersion: policy/v1", "an empty spec.selector now selects every pod"},
		},
		{
			name: "removed HorizontalPodAutoscaler version", setup: deployBase, args: deploy("removed-hpa.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{"removed-hpa.yaml", "autoscaling/v2beta1 HorizontalPodAutoscaler was removed in Kubernetes 1.25",
				"use apiVersion: autoscaling/v2", "targetAverageUtilization"},
		},
		{
			name: "unknown apiVersion", setup: deployBase, args: deploy("unknown-apiversion.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{"unknown-apiversion.yaml", "document 2",
				`apiVersion: Deployment/web: the cluster has no kind "Deployment" in "apps/v9"; it serves Deployment as apps/v1`},
		},
		{
			name: "custom resource without its CRD", setup: deployBase, args: deploy("no-crd.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{"no-crd.yaml", "document 1", `apiVersion: Widget/gadget: the cluster has no kind "Widget" in "example.com/v1"`,
				"CustomResourceDefinition installed?"},
		},
		{
			name: "missing metadata.name", setup: deployBase, args: deploy("missing-name.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{"missing-name.yaml", "document 2", "metadata.name", "required"},
		},
		{
			name: "generateName only", setup: deployBase, args: deploy("generate-name.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{"generate-name.yaml", "document 2", `metadata.name: ConfigMap with generateName "job-config-": required`},
		},
		{
			name: "same object in two files", setup: deployBase, args: deploy("dup-a.yaml", "dup-b.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{"dup-b.yaml: document 2", "metadata.name", `ConfigMap "settings" is defined twice`, "dup-a.yaml, document 1"},
		},
		{
			name: "namespace mismatch", setup: deployBase, other: true,
			args:     argsPlus(deploy("other-namespace.yaml"), "--var", "OTHER_NS={other}"),
			wantCode: exitBadInput,
			wantInMessage: []string{"other-namespace.yaml", "document 2", "metadata.namespace",
				`namespace "{other}" does not match the namespace "{ns}" given with -n`},
		},
		{
			name: "unknown field", setup: deployBase, args: deploy("unknown-field.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{"unknown-field.yaml", "document 2", `spec.ports[port=80,protocol="TCP"].protocoll: Service/{ns}/web: unknown field`},
		},
		{
			name: "replicas of the wrong type", setup: deployBase, args: deploy("replicas-abc.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{"replicas-abc.yaml", "document 2", "spec.replicas: Deployment/{ns}/web: expected numeric (int or float), got string"},
		},
		{
			name: "invalid container port among 20 valid objects", setup: deployBase,
			files: func(t *testing.T, tmp string) {
				var b strings.Builder
				b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  greeting: changed\n")
				b.WriteString(configMaps(1, 20, "new"))
				b.WriteString("---\n" + strings.Replace(webDeployment("tomcat:8"), "containerPort: 8080", "containerPort: 70000", 1))
				writeAt(t, tmp, "twenty-one.yaml", b.String())
			},
			args:     deploy("{tmp}/twenty-one.yaml"),
			wantCode: exitBadInput,
			wantInMessage: []string{"twenty-one.yaml", "document 21", "Deployment/{ns}/web",
				"spec.template.spec.containers[0].ports[0].containerPort", "must be between 1 and 65535"},
			check: func(t *testing.T, r result) {
				for _, ev := range jsonEvents(t, r.stdout) {
					if ev["type"] == "object.applied" {
						t.Errorf("an object was applied: %v", ev)
					}
				}
			},
		},

		// Zero-downtime hazards.
		{
			name: "hazards under --strict", setup: deployBase,
			args:     argsPlus(deploy("hazards.yaml"), "--strict"),
			wantCode: exitBadInput,
			wantInMessage: []string{"hazards.yaml", "document 1", "spec.strategy.rollingUpdate.maxUnavailable", "maxUnavailable 100%",
				"spec.template.spec.containers[0].readinessProbe", "spec.template.spec.containers[0].lifecycle.preStop", "--strict"},
		},

		// Variables.
		{
			name: "undefined variable under strict-vars", setup: deployBase,
			args:     argsPlus(deploy("strict-vars.yaml"), "--strict-vars", "--var", "GREETING=hi"),
			wantCode: exitBadInput,
			wantInMessage: []string{"strict-vars.yaml", "document 2", "line 13", "data.farewell",
				"undefined variable CUTOVER_BADINPUT_UNDEFINED"},
		},
		injectionCase("injection newline and kind Secret", "x\nkind: Secret\nmetadata:\n  name: stolen\nstringData:\n  password: hunter2"),
		injectionCase("injection document separator", "a\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen\n"),
		injectionCase("injection colon space", "key: value"),
		injectionCase("injection quotes", `"quoted" and 'single' \" \\ "`),
		injectionCase("injection flow mapping", "{kind: Secret, metadata: {name: stolen}}"),
		{
			name: "injection dry run reaches the server as one ConfigMap", setup: deployBase,
			args: []string{"deploy", "--dry-run", "-o", "json", "-f", badInputDir + "injection.yaml",
				"--var", "V=x\n---\nkind: Secret\nmetadata:\n  name: stolen"},
			wantCode: exitOK,
			check: func(t *testing.T, r result) {
				var objects []string
				for _, ev := range jsonEvents(t, r.stdout) {
					if o, ok := ev["object"].(string); ok && !slices.Contains(objects, o) {
						objects = append(objects, o)
					}
				}
				if len(objects) != 1 || !strings.HasPrefix(objects[0], "ConfigMap/") || !strings.HasSuffix(objects[0], "/injected") {
					t.Errorf("dry run planned %v, want only ConfigMap injected", objects)
				}
			},
		},
		{
			name: "injection makes an invalid replicas value", setup: deployBase,
			args:          argsPlus(deploy("replicas-var.yaml"), "--var", "N=3\nfoo: bar"),
			wantCode:      exitBadInput,
			wantInMessage: []string{"replicas-var.yaml", "document 2", "spec.replicas: Deployment/{ns}/web: expected numeric (int or float), got string"},
		},
		{
			name: "var-file with a malformed line", setup: deployBase,
			args:          argsPlus(deploy("settings-changed.yaml"), "--var-file", badInputDir+"bad.env"),
			wantCode:      exitBadInput,
			wantInMessage: []string{"--var-file", "bad.env", "line 3", "want KEY=VALUE"},
		},
		{
			// A flag's value is malformed: a usage error, like any bad flag.
			name: "var without equals sign", setup: deployBase,
			args:          argsPlus(deploy("settings-changed.yaml"), "--var", "GREETING"),
			wantCode:      exitUsage,
			wantInMessage: []string{`--var GREETING=...`, "want K=V"},
		},

		// Inputs that are not manifests, or none at all.
		{
			name: "file over the size limit", setup: deployBase,
			files: func(t *testing.T, tmp string) {
				writeAt(t, tmp, "huge.yaml", hugeConfigMap(33<<20))
			},
			args:          deploy("{tmp}/huge.yaml"),
			wantCode:      exitBadInput,
			wantInMessage: []string{"huge.yaml", "larger than 33554432 bytes"},
		},
		{
			name: "standard input over the size limit", setup: deployBase,
			stdin:         hugeConfigMap(33 << 20),
			args:          deploy("-"),
			wantCode:      exitBadInput,
			wantInMessage: []string{"<stdin>", "larger than 33554432 bytes"},
		},
		{
			name: "random bytes", setup: deployBase,
			files: func(t *testing.T, tmp string) {
				rnd := rand.New(rand.NewPCG(1, 2))
				data := make([]byte, 4096)
				for i := range data {
					data[i] = byte(rnd.UintN(256))
				}
				writeAt(t, tmp, "random.yaml", string(data))
			},
			args:          deploy("{tmp}/random.yaml"),
			wantCode:      exitBadInput,
			wantInMessage: []string{"random.yaml", "binary content"},
		},
		{
			name: "png matched by a glob", setup: deployBase,
			files: func(t *testing.T, tmp string) {
				writeAt(t, tmp, "app.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  greeting: changed\n")
				writeAt(t, tmp, "logo.png", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00\x1f\xf3\xffa")
			},
			args:          deploy("{tmp}/*"),
			wantCode:      exitBadInput,
			wantInMessage: []string{"logo.png", "binary content"},
		},
		{
			name: "empty file", setup: deployBase, args: deploy("empty.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{"no objects found in " + badInputDir + "empty.yaml"},
		},
		{
			name: "only comments", setup: deployBase, args: deploy("comments-only.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{"no objects found in " + badInputDir + "comments-only.yaml"},
		},
		{
			name: "only separators", setup: deployBase, args: deploy("separators-only.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{"no objects found in " + badInputDir + "separators-only.yaml"},
		},
		{
			name: "empty standard input", setup: deployBase, args: deploy("-"), wantCode: exitBadInput,
			wantInMessage: []string{"no objects found in standard input"},
		},
		{
			name: "glob matching nothing", setup: deployBase, args: deploy("nomatch-*.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{badInputDir + "nomatch-*.yaml", "no file matches"},
		},
		{
			name: "recursive glob matching nothing", setup: deployBase, args: deploy("**/nomatch.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{badInputDir + "**/nomatch.yaml", "no file matches"},
		},
		{
			name: "directory without manifests", setup: deployBase, args: deploy("no-manifests"), wantCode: exitBadInput,
			wantInMessage: []string{badInputDir + "no-manifests", "no *.yaml, *.yml or *.json file"},
		},
		{
			name: "missing file", setup: deployBase, args: deploy("does-not-exist.yaml"), wantCode: exitBadInput,
			wantInMessage: []string{badInputDir + "does-not-exist.yaml", "no such file or directory"},
		},

		// The cluster: unreachable, or refusing us.
		{
			name: "unreachable cluster", setup: deployBase, ownKube: true,
			files: func(t *testing.T, tmp string) {
				writeTestKubeconfig(t, filepath.Join(tmp, "kubeconfig"), "https://127.0.0.1:1", cluster.Config.BearerToken)
			},
			args:          argsPlus(deploy("base.yaml"), "--kubeconfig", "{tmp}/kubeconfig", "-n", "{ns}"),
			wantCode:      exitBadInput,
			wantInMessage: []string{"cannot reach the cluster", "127.0.0.1:1", "connection refused"},
			within:        10 * time.Second,
			check:         onlyOnce("connection refused"),
		},
		{
			name: "bad token", setup: deployBase, ownKube: true,
			files: func(t *testing.T, tmp string) {
				writeTestKubeconfig(t, filepath.Join(tmp, "kubeconfig"), cluster.Config.Host, "wrong")
			},
			args:          argsPlus(deploy("base.yaml"), "--kubeconfig", "{tmp}/kubeconfig", "-n", "{ns}"),
			wantCode:      exitBadInput,
			wantInMessage: []string{"the cluster refused the kubeconfig's credentials (401 Unauthorized)"},
			within:        10 * time.Second,
			check:         onlyOnce("401 Unauthorized"),
		},

		// Blue/green.
		{
			name: "blue-green selector key missing", setup: deployBlueGreen,
			args:          argsPlus(bgArgs, "--selector-key", "app2"),
			wantCode:      exitBadInput,
			wantInMessage: []string{"production service {ns}/tomcat-service", `no selector key "app2"`, "--selector-key"},
		},
		{
			name: "blue-green unknown color", setup: patchProduction(`{"spec":{"selector":{"role":"purple"}}}`),
			args:          bgArgs,
			wantCode:      exitBadInput,
			wantInMessage: []string{"production service {ns}/tomcat-service", `role="purple"`, `"blue" and "green"`},
		},
		{
			name: "blue-green production service without selector", setup: patchProduction(`{"spec":{"selector":null}}`),
			args:          bgArgs,
			wantCode:      exitBadInput,
			wantInMessage: []string{"production service {ns}/tomcat-service", "has no selector:", `"role" key`},
		},
		{
			// A flag's value is malformed: a usage error, found before any
			// cluster work.
			name: "blue-green one color", setup: deployBlueGreen,
			args:          argsPlus(bgArgs, "--colors", "blue"),
			wantCode:      exitUsage,
			wantInMessage: []string{`--colors "blue"`, "two different colors"},
		},
		{
			name: "approve with nothing pending", setup: deployBlueGreen,
			args:          []string{"approve", "tomcat-service"},
			wantCode:      exitBadInput,
			wantInMessage: []string{"no release is waiting for approval", "tomcat-service"},
		},

		// The config file.
		{
			name: "config file with an unknown key", setup: deployBase,
			args:          []string{"deploy", "-o", "json", "-c", badInputDir + "unknown-key.cutover.yaml"},
			wantCode:      exitBadInput,
			wantInMessage: []string{"unknown-key.cutover.yaml", "line 5", `"timeoutt"`, `"timeout"`},
		},
	}
}

// onlyOnce checks that the cluster's refusal is said once, not once per
// object.
func onlyOnce(s string) func(t *testing.T, r result) {
	return func(t *testing.T, r result) {
		if n := strings.Count(r.stderr, s); n != 1 {
			t.Errorf("stderr says %q %d times, want once", s, n)
		}
	}
}

// injectionCase renders injection.yaml with V set to value: not bad input,
// as the YAML stays valid; the value must land as one literal string in the
// one ConfigMap, wherever ${V} is.
func injectionCase(name, value string) badCase {
	return badCase{
		name:     name,
		args:     []string{"render", "-f", badInputDir + "injection.yaml", "--var", "V=" + value},
		wantCode: exitOK,
		check: func(t *testing.T, r result) {
			docs := decodeRendered(t, r.stdout)
			if len(docs) != 1 {
				t.Fatalf("render gave %d objects, want 1:\n%s", len(docs), r.stdout)
			}
			o := docs[0]
			if o["kind"] != "ConfigMap" || dig(o, "metadata", "name") != "injected" {
				t.Errorf("render gave %v %v, want ConfigMap injected", o["kind"], dig(o, "metadata", "name"))
			}
			want := map[string]string{"plain": value, "quoted": value, "embedded": "before " + value + " after"}
			data, _ := o["data"].(map[string]any)
			for k, w := range want {
				if got, ok := data[k].(string); !ok || got != w {
					t.Errorf("data.%s = %#v, want the string %q", k, data[k], w)
				}
			}
			if len(data) != len(want) {
				t.Errorf("data has keys %v, want plain, quoted, embedded", keysOf(data))
			}
			if got := dig(o, "metadata", "annotations", "note"); got != value {
				t.Errorf("annotation note = %#v, want %#v", got, value)
			}
			if len(o) != 4 {
				t.Errorf("object has keys %v, want apiVersion, kind, metadata, data", keysOf(o))
			}
		},
	}
}

func decodeRendered(t *testing.T, s string) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(s))
	var out []map[string]any
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("render output does not parse: %v\n%s", err, s)
		}
		if m != nil {
			out = append(out, m)
		}
	}
}

func dig(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func keysOf(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// hugeConfigMap is one ConfigMap "settings" of about size bytes, one long
// line of data.
func hugeConfigMap(size int) string {
	head := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  blob: "
	return head + strings.Repeat("x", size-len(head)) + "\n"
}

// webDeployment is base.yaml's Deployment with image.
func webDeployment(image string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: ` + image + `
        ports:
        - containerPort: 8080
`
}

func writeAt(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeTestKubeconfig writes a kubeconfig for server with the test bed's CA and
// token.
func writeTestKubeconfig(t *testing.T, path, server, token string) {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: cluster.Config.CAData}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "c"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
}

// prepared is a row's state: its namespaces, made and set up before the
// row runs.
type prepared struct {
	ns, other string
	log       bytes.Buffer
	err       error
}

// prepare makes the row's namespaces and runs its setup. It runs on its own
// goroutine, so it reports errors instead of failing a test.
func prepare(tc badCase) *prepared {
	p := &prepared{}
	if tc.setup == nil {
		return p
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if p.ns, p.err = newNamespace(ctx, tc.name); p.err != nil {
		return p
	}
	if tc.other {
		if p.other, p.err = newNamespace(ctx, tc.name+" other"); p.err != nil {
			return p
		}
	}
	if p.err = tc.setup(ctx, p); p.err == nil {
		start := time.Now()
		p.err = p.settle(ctx)
		fmt.Fprintf(&p.log, "settled in %s\n", time.Since(start).Round(time.Millisecond))
	}
	return p
}

// cleanup deletes the row's namespaces.
func (p *prepared) cleanup() {
	for _, ns := range []string{p.ns, p.other} {
		if ns != "" {
			_ = cluster.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
		}
	}
}

// snapshot lists the row's namespaces' objects with their resourceVersions:
// the kinds snapshot() lists, and Leases (the blue/green lock).
func (p *prepared) snapshot(t *testing.T) []string {
	t.Helper()
	out, err := p.state(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var snapshotResources = []schema.GroupVersionResource{
	{Version: "v1", Resource: "configmaps"}, {Version: "v1", Resource: "secrets"},
	{Version: "v1", Resource: "services"}, {Version: "v1", Resource: "serviceaccounts"},
	{Version: "v1", Resource: "pods"},
	{Group: "apps", Version: "v1", Resource: "deployments"}, {Group: "apps", Version: "v1", Resource: "replicasets"},
	{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"},
}

func (p *prepared) state(ctx context.Context) ([]string, error) {
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ns := range []string{p.ns, p.other} {
		if ns == "" {
			continue
		}
		for _, gvr := range snapshotResources {
			list, err := dyn.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			for _, o := range list.Items {
				out = append(out, ns+"/"+gvr.Resource+"/"+o.GetName()+"@"+o.GetResourceVersion())
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// settle waits until the namespaces stay the same for a moment: the
// controllers' last status updates after a setup must not pass for a
// write of the row's run.
func (p *prepared) settle(ctx context.Context) error {
	prev, err := p.state(ctx)
	for err == nil {
		select {
		case <-ctx.Done():
			return fmt.Errorf("the namespace does not settle: %w", ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
		var cur []string
		if cur, err = p.state(ctx); err == nil && slices.Equal(prev, cur) {
			return nil
		}
		prev = cur
	}
	return err
}

// run runs cutover against the test bed in the row's namespace.
func (p *prepared) run(ctx context.Context, args ...string) error {
	var out, errb bytes.Buffer
	full := argsPlus(args, "--kubeconfig", cluster.Kubeconfig, "-n", p.ns)
	code := run(ctx, full, streams{in: strings.NewReader(""), out: &out, err: &errb})
	fmt.Fprintf(&p.log, "cutover %s -> %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	if code != exitOK {
		return fmt.Errorf("cutover %s exited %d: %s", strings.Join(args, " "), code, errb.String())
	}
	return nil
}

// deployBase deploys testdata/badinput/base.yaml and waits until the web
// app runs.
func deployBase(ctx context.Context, p *prepared) error {
	return p.run(ctx, "deploy", "-f", badInputDir+"base.yaml")
}

// ownedBy deploys the base, then has manager apply the settings
// ConfigMap's greeting, as a controller would.
func ownedBy(manager string) func(context.Context, *prepared) error {
	return func(ctx context.Context, p *prepared) error {
		if err := deployBase(ctx, p); err != nil {
			return err
		}
		body := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings"},"data":{"greeting":"pinned"}}`
		_, err := cluster.Client.CoreV1().ConfigMaps(p.ns).Patch(ctx, "settings", types.ApplyPatchType, []byte(body),
			metav1.PatchOptions{FieldManager: manager, Force: ptr.To(true)})
		return err
	}
}

// helmOwned deploys the base, then marks the settings ConfigMap as a Helm
// release's, as helm install does.
func helmOwned(ctx context.Context, p *prepared) error {
	if err := deployBase(ctx, p); err != nil {
		return err
	}
	patch := `{"metadata":{"annotations":{"meta.helm.sh/release-name":"settings","meta.helm.sh/release-namespace":"` + p.ns + `"}}}`
	_, err := cluster.Client.CoreV1().ConfigMaps(p.ns).Patch(ctx, "settings", types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	return err
}

// deployBlueGreen releases the article's blue/green manifests (release 7,
// blue).
func deployBlueGreen(ctx context.Context, p *prepared) error {
	return p.run(ctx, "deploy", "--strategy", "blue-green", "-f", "../../examples/blue-green/",
		"--service", "tomcat-service", "--var", "TOMCAT_VERSION=7")
}

// patchProduction deploys blue/green and then merge-patches the production
// Service, as a person with kubectl might.
func patchProduction(patch string) func(context.Context, *prepared) error {
	return func(ctx context.Context, p *prepared) error {
		if err := deployBlueGreen(ctx, p); err != nil {
			return err
		}
		_, err := cluster.Client.CoreV1().Services(p.ns).Patch(ctx, "tomcat-service", types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		return err
	}
}

// newNamespace makes a namespace named after the row and waits for its
// default ServiceAccount, as cluster.Namespace does, without a *testing.T.
func newNamespace(ctx context.Context, name string) (string, error) {
	prefix := "badinput-" + strings.Trim(strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, name), "-")
	if len(prefix) > 40 {
		prefix = prefix[:40]
	}
	ns, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: strings.Trim(prefix, "-") + "-",
		Labels:       map[string]string{"testbed.cutover.dev/test": "true"},
	}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("create namespace: %w", err)
	}
	for {
		_, err := cluster.Client.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return ns.Name, nil
		}
		if !apierrors.IsNotFound(err) {
			return ns.Name, fmt.Errorf("namespace %s: default service account: %w", ns.Name, err)
		}
		select {
		case <-ctx.Done():
			return ns.Name, fmt.Errorf("namespace %s: no default service account: %w", ns.Name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestBadInputStderrOfTheBinary runs the built command, so that what the
// libraries log straight to the process's stderr (client-go's klog) shows:
// for an unreachable cluster a person must read only cutover's error.
func TestBadInputStderrOfTheBinary(t *testing.T) {
	testbed.Require(t, cluster)
	t.Parallel()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	writeTestKubeconfig(t, kubeconfig, "https://127.0.0.1:1", "token")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cutoverBinary(t), "deploy", "-f", badInputDir+"base.yaml", "--kubeconfig", kubeconfig, "-n", "default")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitBadInput {
		t.Fatalf("exit %v, want %d", err, exitBadInput)
	}
	lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "error: ") || !strings.Contains(lines[0], "cannot reach the cluster") {
		t.Errorf("stderr should be the one error line, got:\n%s", stderr.String())
	}
}

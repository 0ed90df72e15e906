package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cutover/cutover/internal/readiness"
	"github.com/cutover/cutover/internal/testinfra/testbed"
)

var cluster *testbed.Cluster

func TestMain(m *testing.M) { os.Exit(testbed.Run(m, &cluster)) }

// result is one run of the cutover command.
type result struct {
	code   int
	stdout string
	stderr string
}

// cutover runs the command in-process against the test bed, in namespace ns.
func cutover(t *testing.T, ns string, stdin string, args ...string) result {
	t.Helper()
	return cutoverLive(t, ns, stdin, nil, args...)
}

// cutoverLive is cutover calling onLine, if set, with each line of stdout
// as the command writes it.
func cutoverLive(t *testing.T, ns string, stdin string, onLine func(string), args ...string) result {
	t.Helper()
	full := append([]string{}, args...)
	if ns != "" {
		full = append(full, "--kubeconfig", cluster.Kubeconfig, "-n", ns)
	}
	out := &lineWriter{on: onLine}
	var errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	code := run(ctx, full, streams{in: strings.NewReader(stdin), out: out, err: &errb})
	stdout := out.String()
	t.Logf("cutover %s -> %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout, errb.String())
	return result{code: code, stdout: stdout, stderr: errb.String()}
}

// lineWriter keeps what is written and calls on with each complete line.
type lineWriter struct {
	mu   sync.Mutex
	all  bytes.Buffer
	part []byte
	on   func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all.Write(p)
	if w.on == nil {
		return len(p), nil
	}
	w.part = append(w.part, p...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.on(string(w.part[:i]))
		w.part = w.part[i+1:]
	}
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.all.String()
}

// jsonEvents parses -o json output, failing on any line that is not JSON.
func jsonEvents(t *testing.T, out string) []map[string]any {
	t.Helper()
	var evs []map[string]any
	for i, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %d of -o json is not JSON: %q: %v", i+1, line, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// writeFile writes content under the test's temp dir and returns the path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// snapshot lists every object of the common kinds in ns with its resource
// version, so that two snapshots are equal only if nothing changed.
func snapshot(t *testing.T, ns string) []string {
	t.Helper()
	var out []string
	for _, gvr := range []schema.GroupVersionResource{
		{Version: "v1", Resource: "configmaps"}, {Version: "v1", Resource: "secrets"},
		{Version: "v1", Resource: "services"}, {Version: "v1", Resource: "serviceaccounts"},
		{Version: "v1", Resource: "pods"},
		{Group: "apps", Version: "v1", Resource: "deployments"}, {Group: "apps", Version: "v1", Resource: "replicasets"},
	} {
		list, err := dynamicFor(t).Resource(gvr).Namespace(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range list.Items {
			out = append(out, gvr.Resource+"/"+o.GetName()+"@"+o.GetResourceVersion())
		}
	}
	sort.Strings(out)
	return out
}

func unstructuredInt(obj map[string]any, fields ...string) (int64, bool, error) {
	return unstructured.NestedInt64(obj, fields...)
}

// widgetManifests is a CRD of group and one custom resource of it, whose
// spec.size is size (a number or a variable).
func widgetManifests(group, size string) string {
	return fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.%[1]s
spec:
  group: %[1]s
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
---
apiVersion: %[1]s/v1
kind: Widget
metadata:
  name: sprocket
spec:
  size: %[2]s
`, group, size)
}

// readyPods names the ready pods that selector selects in ns, terminating
// ones excluded.
func readyPods(t *testing.T, ns, selector string) []string {
	t.Helper()
	pods, err := cluster.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var ready []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && readiness.PodReady(&p) {
			ready = append(ready, p.Name)
		}
	}
	slices.Sort(ready)
	return ready
}

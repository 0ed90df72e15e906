package testbed

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Run starts one control plane for a test package, runs its tests, prints
// the tails of the component logs when a test failed, and stops the control
// plane, also on SIGINT or SIGTERM. Use it from TestMain:
//
//	var cluster *testbed.Cluster
//	func TestMain(m *testing.M) { os.Exit(testbed.Run(m, &cluster)) }
func Run(m *testing.M, cluster **Cluster) int {
	return RunWith(m, cluster, Options{})
}

// RunWith is Run with options. With RealNode on a machine that cannot run
// one (not root, no cgroups), it starts nothing and runs the tests, which
// skip through RequireRealNode.
//
// With -short it starts nothing: the package's pure tests run, and the
// tests that need the control plane skip in Namespace or Require.
func RunWith(m *testing.M, cluster **Cluster, opts Options) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	if testing.Short() {
		fmt.Fprintln(os.Stderr, "test bed: not started (-short); the tests that need it skip")
		return m.Run()
	}
	if opts.RealNode {
		var ns *NotSupportedError
		if err := RealNodeSupported(); errors.As(err, &ns) {
			fmt.Fprintf(os.Stderr, "test bed: no real node here (%v); its tests skip\n", err)
			return m.Run()
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := Start(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "test bed started in %s\n", c.StartedIn.Round(time.Millisecond))
	*cluster = c
	stopOnSignal(c)
	code := m.Run()
	if code != 0 {
		fmt.Fprintln(os.Stderr, c.LogTails(40))
	}
	if err := c.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop test bed:", err)
		return 1
	}
	return code
}

func stopOnSignal(c *Cluster) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "test bed: %s, stopping\n", s)
		_ = c.Stop()
		os.Exit(1)
	}()
}

// Namespace creates a namespace for one test, waits until pods can be
// created in it, and deletes it when the test ends. When the test failed it
// logs the namespace's events and the component logs' tails.
func (c *Cluster) Namespace(t testing.TB) string {
	t.Helper()
	Require(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: namePrefix(t.Name()),
		Labels:       map[string]string{"testbed.cutover.dev/test": "true"},
	}}
	ns, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create test namespace: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(c.events(ns.Name))
			t.Log(c.LogTails(30))
		}
		_ = c.Client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	if err := c.waitServiceAccount(ctx, ns.Name); err != nil {
		t.Fatalf("namespace %s: default service account: %v", ns.Name, err)
	}
	return ns.Name
}

// Require skips t when the package runs without a control plane (-short).
// Tests that use the cluster before Namespace call it first.
func Require(t testing.TB, c *Cluster) {
	t.Helper()
	if c == nil {
		t.Skip("needs the test bed, not started with -short")
	}
}

// namePrefix turns a test name into a DNS label prefix.
func namePrefix(test string) string {
	s := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, test)
	if len(s) > 40 {
		s = s[:40]
	}
	return strings.Trim(s, "-") + "-"
}

func (c *Cluster) events(ns string) string {
	list, err := c.Client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return "events: " + err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "events in %s:\n", ns)
	for _, e := range list.Items {
		fmt.Fprintf(&b, "  %s %s/%s %s: %s\n", e.Type, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
	}
	return b.String()
}

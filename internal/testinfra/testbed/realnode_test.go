package testbed_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/cutover/cutover/internal/testinfra/testbed"
)

// TestRealNodeServesAndLeavesNoHostState starts a real node, runs the
// article's Deployment on it as real pods, reaches them from the users'
// host through a ClusterIP and a NodePort, and checks that stopping the
// test bed puts this machine back as it was: links, addresses, routes,
// nft rules, mounts, cgroups, kernel settings, directories and processes.
func TestRealNodeServesAndLeavesNoHostState(t *testing.T) {
	testbed.RequireRealNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	before := snapshotRecoveredHost(ctx, t)
	c, err := testbed.Start(ctx, testbed.Options{RealNode: true})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = c.Stop()
		}
	}()
	// The test stops the test bed itself, so its namespace needs no
	// cleanup (c.Namespace would delete it after the stop).
	const ns = "default"
	svc := runTomcat(ctx, t, c.Client, ns)

	want := regexp.MustCompile(`^Apache Tomcat/8 tomcat-[a-z0-9]+-[a-z0-9]+\n$`)
	for _, addr := range []string{
		net.JoinHostPort(svc.Spec.ClusterIP, "80"),
		net.JoinHostPort(testbed.RealNodeIP, fmt.Sprint(svc.Spec.Ports[0].NodePort)),
	} {
		body := getFromUser(ctx, t, c, addr)
		if !want.MatchString(body) {
			t.Errorf("GET http://%s/ from the users' host: %q, want %s", addr, body, want)
		}
	}
	assertNoDefaultRoute(t)

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	assertHostRestored(t, before, snapshotHost(t))
}

// snapshotRecoveredHost first puts back what a real node killed before its
// teardown left (a cancelled CI job's): the test bed does that when it
// starts, so a snapshot taken before would hold state the start removes.
func snapshotRecoveredHost(ctx context.Context, t *testing.T) map[string]string {
	t.Helper()
	if err := testbed.RecoverHost(ctx, t.Logf); err != nil {
		t.Fatal(err)
	}
	return snapshotHost(t)
}

// assertHostRestored compares two snapshots of the host.
func assertHostRestored(t *testing.T, before, after map[string]string) {
	t.Helper()
	for _, k := range slices.Sorted(mapsKeys(before, after)) {
		_, was := before[k]
		switch {
		case before[k] == after[k]:
		case !was && strings.HasPrefix(k, "sysctl "):
			// A kernel module loaded on first use (conntrack for
			// kube-proxy's rules) brings its settings; modules stay
			// loaded, as after any first use. A link left behind shows
			// under "links".
			t.Logf("new kernel setting %s = %s", k, after[k])
		default:
			t.Errorf("host state %s changed:\nbefore: %s\nafter:  %s", k, before[k], after[k])
		}
	}
}

const killedChildEnv = "CUTOVER_TESTBED_KILLED_REAL_NODE"

// TestRealNodeRecoversFromAKilledOne kills (SIGKILL) a test process whose
// real node serves pods, as a cancelled CI job does, then starts a real
// node here: it must put the host back from what the killed one left
// (bridge, namespaces, nft tables, shims, cgroups, mounts, kernel
// settings), come up, and leave the host as it was before either.
func TestRealNodeRecoversFromAKilledOne(t *testing.T) {
	testbed.RequireRealNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	before := snapshotRecoveredHost(ctx, t)
	cmd, out := startChild(ctx, t, "TestKilledRealNodeChild", killedChildEnv)
	var log strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		fmt.Fprintln(&log, sc.Text())
		if sc.Text() == "SERVING" {
			break
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, out)
	_ = cmd.Wait()
	if !strings.Contains(log.String(), "SERVING") {
		t.Fatalf("the child's real node never served:\n%s", log.String())
	}
	if _, err := net.InterfaceByName(testbed.RealNodeBridge); err != nil {
		t.Fatalf("the killed node left no bridge: nothing to recover from (%v)", err)
	}

	c, err := testbed.Start(ctx, testbed.Options{RealNode: true})
	if err != nil {
		t.Fatalf("a real node after a killed one: %v", err)
	}
	runTomcat(ctx, t, c.Client, "default")
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	assertHostRestored(t, before, snapshotHost(t))
}

// TestKilledRealNodeChild is the process TestRealNodeRecoversFromAKilledOne
// kills: it starts a real node with pods and waits.
func TestKilledRealNodeChild(t *testing.T) {
	if os.Getenv(killedChildEnv) == "" {
		t.Skip("only runs as the child of TestRealNodeRecoversFromAKilledOne")
	}
	c, err := testbed.Start(context.Background(), testbed.Options{RealNode: true})
	if err != nil {
		t.Fatal(err)
	}
	runTomcat(context.Background(), t, c.Client, "default")
	fmt.Println("SERVING")
	select {} // until killed
}

// runTomcat runs the article's rolling Deployment (tomcat:8, readiness on
// /) and a NodePort Service for it, and waits until the Service has both
// pods as ready endpoints.
func runTomcat(ctx context.Context, t *testing.T, client kubernetes.Interface, ns string) *corev1.Service {
	t.Helper()
	labels := map[string]string{"app": "tomcat"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "tomcat"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "tomcat", Image: testbed.TestAppImage("8"),
					Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
					ReadinessProbe: &corev1.Probe{PeriodSeconds: 1, ProbeHandler: corev1.ProbeHandler{
						HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080)}}},
				}}},
			},
		},
	}
	if _, err := client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "tomcat"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: labels,
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	svc, err := client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := testbed.WaitReadyEndpoints(ctx, client, ns, "tomcat", 2); err != nil {
		t.Fatal(err)
	}
	return svc
}

// getFromUser GETs http://addr/ over a new connection from the users'
// host. kube-proxy programs a new Service's rules shortly after its
// endpoints appear, so the first attempts may be refused: this is the one
// wait here with no event to watch.
func getFromUser(ctx context.Context, t *testing.T, c *testbed.Cluster, addr string) string {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: c.DialUser, DisableKeepAlives: true}}
	var last error
	for range 50 {
		resp, err := client.Get("http://" + addr + "/")
		if err == nil {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode == http.StatusOK {
				return string(b)
			}
			last = fmt.Errorf("status %d, %v", resp.StatusCode, err)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("GET %s: %v (last: %v)", addr, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("GET %s from the users' host: %v", addr, last)
	return ""
}

// assertNoDefaultRoute checks every pod network namespace: a pod reaches
// its bridge's subnet and nothing else.
func assertNoDefaultRoute(t *testing.T) {
	t.Helper()
	nss, _ := filepath.Glob("/run/netns/cni-*")
	if len(nss) == 0 {
		t.Fatal("no pod network namespace under /run/netns")
	}
	for _, p := range nss {
		out, err := exec.Command("ip", "-n", filepath.Base(p), "route", "show", "table", "all").CombinedOutput()
		if err != nil {
			t.Fatalf("routes of %s: %v: %s", p, err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if strings.HasPrefix(line, "default") {
				t.Errorf("pod namespace %s has a route off the bridge: %s", p, line)
			}
		}
	}
}

// nodeProcess matches the real node's processes and its pods'.
var nodeProcess = regexp.MustCompile(`containerd|kubelet|kube-proxy|/webapp|/pause`)

// kwokPodRoute matches the route by which a kwok test bed makes its pod
// range local while it runs (Cluster.ReachablePods, podRange): the test
// beds of the other packages that make test runs beside the real node's
// come and go, and their routes are not the real node's.
var kwokPodRoute = regexp.MustCompile(`(?m)^local 198\.19\.\d+\.0/22 dev lo .*\n`)

// volatileSysctl matches kernel settings that change by themselves.
var volatileSysctl = regexp.MustCompile(`^(fs\.(dentry-state|file-nr|inode-nr|inode-state|quota\..*)|kernel\.ns_last_pid|kernel\.random\..*|net\.netfilter\.nf_conntrack_count)$`)

// snapshotHost records the host state a real node may change.
func snapshotHost(t *testing.T) map[string]string {
	t.Helper()
	s := map[string]string{}
	run := func(key string, name string, args ...string) {
		out, err := exec.Command(name, args...).Output()
		if err != nil {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		s[key] = string(out)
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range ifaces {
		names = append(names, i.Name)
	}
	s["links"] = strings.Join(names, " ")
	run("addresses", "ip", "-o", "addr", "show")
	run("routes", "ip", "route", "show", "table", "all")
	s["routes"] = kwokPodRoute.ReplaceAllString(s["routes"], "")
	run("nft", "nft", "list", "ruleset")
	run("netns", "ip", "netns", "list")
	out, err := exec.Command("sysctl", "-a").Output()
	if err != nil {
		t.Fatalf("sysctl -a: %v", err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " = ")
		if !volatileSysctl.MatchString(k) {
			s["sysctl "+k] = v
		}
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var points []string
	for _, line := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(line); len(f) > 4 {
			points = append(points, f[4])
		}
	}
	s["mounts"] = strings.Join(points, " ")
	cgroups, _ := filepath.Glob("/sys/fs/cgroup/*/*/")
	s["cgroups"] = strings.Join(cgroups, " ")
	for _, d := range []string{"/var/lib/kubelet", "/var/log/containers", "/var/log/pods", "/var/lib/cni", "/run/containerd", "/run/netns", "/run/cutover-testbed"} {
		entries, err := os.ReadDir(d)
		if err != nil {
			s["dir "+d] = "absent"
			continue
		}
		var es []string
		for _, e := range entries {
			es = append(es, e.Name())
		}
		s["dir "+d] = strings.Join(es, " ")
	}
	// Zombies run nothing and hold nothing; reaping orphans is PID 1's job.
	procs, _ := exec.Command("ps", "-eo", "stat=,args=").Output()
	var left []string
	for _, line := range strings.Split(string(procs), "\n") {
		stat, args, _ := strings.Cut(strings.TrimSpace(line), " ")
		if !strings.HasPrefix(stat, "Z") && nodeProcess.MatchString(args) {
			left = append(left, args)
		}
	}
	s["processes"] = strings.Join(left, "\n")
	return s
}

func mapsKeys(maps ...map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		seen := map[string]bool{}
		for _, m := range maps {
			for k := range m {
				if !seen[k] {
					seen[k] = true
					if !yield(k) {
						return
					}
				}
			}
		}
	}
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/release"
	"github.com/cutover/cutover/internal/verify"
)

// rbacFile is the shipped least-privilege RBAC.
const rbacFile = "../../deploy/rbac/role.yaml"

// rbacObjects reads the ServiceAccount, Role and RoleBinding of rbacFile.
func rbacObjects(t *testing.T) (*corev1.ServiceAccount, *rbacv1.Role, *rbacv1.RoleBinding) {
	t.Helper()
	data, err := os.ReadFile(rbacFile)
	if err != nil {
		t.Fatal(err)
	}
	var sa *corev1.ServiceAccount
	var role *rbacv1.Role
	var rb *rbacv1.RoleBinding
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatal(err)
		}
		var into any
		switch tm.Kind {
		case "ServiceAccount":
			sa = &corev1.ServiceAccount{}
			into = sa
		case "Role":
			role = &rbacv1.Role{}
			into = role
		case "RoleBinding":
			rb = &rbacv1.RoleBinding{}
			into = rb
		case "":
			continue
		default:
			t.Fatalf("%s: unexpected kind %q", rbacFile, tm.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, into); err != nil {
			t.Fatalf("%s: %s: %v", rbacFile, tm.Kind, err)
		}
	}
	if sa == nil || role == nil || rb == nil {
		t.Fatalf("%s: want a ServiceAccount, a Role and a RoleBinding", rbacFile)
	}
	return sa, role, rb
}

// grant is one verb on one resource ("services/proxy" for a subresource).
type grant struct{ group, resource, verb string }

func (g grant) String() string {
	if g.group == "" {
		return g.verb + " " + g.resource
	}
	return g.verb + " " + g.resource + "." + g.group
}

// withoutGrant returns rules minus g, splitting a rule that grants more.
func withoutGrant(rules []rbacv1.PolicyRule, g grant) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, r := range rules {
		if !slices.Contains(r.APIGroups, g.group) || !slices.Contains(r.Resources, g.resource) || !slices.Contains(r.Verbs, g.verb) {
			out = append(out, r)
			continue
		}
		if others := slices.DeleteFunc(slices.Clone(r.Resources), func(s string) bool { return s == g.resource }); len(others) > 0 {
			o := *r.DeepCopy()
			o.Resources = others
			out = append(out, o)
		}
		if verbs := slices.DeleteFunc(slices.Clone(r.Verbs), func(s string) bool { return s == g.verb }); len(verbs) > 0 {
			o := *r.DeepCopy()
			o.Resources, o.Verbs = []string{g.resource}, verbs
			out = append(out, o)
		}
	}
	return out
}

// granted lists every grant of rules.
func granted(rules []rbacv1.PolicyRule) []grant {
	var out []grant
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					if !slices.Contains(out, grant{g, res, v}) {
						out = append(out, grant{g, res, v})
					}
				}
			}
		}
	}
	return out
}

// serviceAccount is cutover's ServiceAccount in a test namespace.
type serviceAccount struct {
	ns         string
	kubeconfig string
	client     kubernetes.Interface
}

// installRBAC creates the file's ServiceAccount, Role (with rules instead
// of the file's when rules is not nil) and RoleBinding in ns, and returns
// the ServiceAccount with a kubeconfig holding a token from the
// TokenRequest API. It returns once the binding is in force.
func installRBAC(t *testing.T, ns string, rules []rbacv1.PolicyRule) *serviceAccount {
	t.Helper()
	ctx := context.Background()
	sa, role, rb := rbacObjects(t)
	if rules != nil {
		role.Rules = rules
	}
	c := cluster.Client
	if _, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	path, cfg := tokenKubeconfig(t, ns, sa.Name, time.Hour)
	rc, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	s := &serviceAccount{ns: ns, kubeconfig: path, client: client}
	for _, g := range granted(role.Rules) {
		s.waitAllowed(t, g, true)
	}
	return s
}

// setRules replaces the Role's rules and waits until the change is in force
// for the grant that changed.
func (s *serviceAccount) setRules(t *testing.T, rules []rbacv1.PolicyRule, changed grant, allowed bool) {
	t.Helper()
	role, err := cluster.Client.RbacV1().Roles(s.ns).Get(context.Background(), "cutover", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	role.Rules = rules
	if _, err := cluster.Client.RbacV1().Roles(s.ns).Update(context.Background(), role, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.waitAllowed(t, changed, allowed)
}

// waitAllowed waits until the authorizer answers allowed for g.
func (s *serviceAccount) waitAllowed(t *testing.T, g grant, allowed bool) {
	t.Helper()
	res, sub, _ := strings.Cut(g.resource, "/")
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := s.client.AuthorizationV1().SelfSubjectAccessReviews().Create(context.Background(), &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: s.ns, Verb: g.verb, Group: g.group, Resource: res, Subresource: sub,
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status.Allowed == allowed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: allowed %v, want %v (%s)", g, r.Status.Allowed, allowed, r.Status.Reason)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// run runs cutover as the ServiceAccount.
func (s *serviceAccount) run(t *testing.T, args ...string) result {
	t.Helper()
	return cutover(t, "", "", append(args, "--kubeconfig", s.kubeconfig, "-n", s.ns)...)
}

// blueGreen deploys the article's blue/green example as the ServiceAccount.
func (s *serviceAccount) blueGreen(t *testing.T, version string, extra ...string) result {
	t.Helper()
	return s.run(t, append([]string{"deploy", "--strategy", "blue-green", "-f", "../../examples/blue-green/",
		"--service", "tomcat-service", "--var", "TOMCAT_VERSION=" + version, "-o", "json"}, extra...)...)
}

// decideWhenPending runs `cutover approve|reject` as the ServiceAccount as
// soon as a release waits for approval.
func (s *serviceAccount) decideWhenPending(t *testing.T, verb string) result {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		r := s.run(t, verb, "tomcat-service", "--by", "alice", "--comment", "checked")
		if r.code != exitBadInput || time.Now().After(deadline) {
			return r
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// rbacApp is a rolling-update app of the four kinds the Role covers.
const rbacApp = `apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  version: "${VERSION}"
---
apiVersion: v1
kind: Secret
metadata:
  name: web-secret
stringData:
  password: "pw-${VERSION}"
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
---
` + webApp

func (s *serviceAccount) deployApp(t *testing.T, file, version string, extra ...string) result {
	t.Helper()
	return s.run(t, append([]string{"deploy", "-f", file, "-o", "json", "--var", "VERSION=" + version,
		"--var", "BEHAVIOR=ready", "--var", "DEADLINE=60"}, extra...)...)
}

// leaseNames lists the Leases in ns: a refused run must leave no lock.
func leaseNames(t *testing.T, ns string) []string {
	t.Helper()
	list, err := cluster.Client.CoordinationV1().Leases(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range list.Items {
		out = append(out, l.Name+"@"+l.ResourceVersion)
	}
	return out
}

func TestRBACBlueGreenAsServiceAccount(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	sa := installRBAC(t, ns, nil)
	if r := sa.blueGreen(t, "7"); r.code != exitOK {
		t.Fatalf("first deploy exited %d", r.code)
	}
	assertProduction(t, ns, "blue", "tomcat:7")
	done := make(chan result, 1)
	go func() { done <- sa.blueGreen(t, "8", "--approval", "manual", "--approval-timeout", "1m") }()
	if d := sa.decideWhenPending(t, "approve"); d.code != exitOK {
		t.Fatalf("approve exited %d", d.code)
	}
	if r := <-done; r.code != exitOK {
		t.Fatalf("blue to green exited %d", r.code)
	}
	assertProduction(t, ns, "green", "tomcat:8")
	st := sa.run(t, "status", "tomcat-service", "-o", "json")
	if st.code != exitOK || !strings.Contains(st.stdout, `"approved"`) || !strings.Contains(st.stdout, `"alice"`) {
		t.Errorf("status exited %d: %s", st.code, st.stdout)
	}
	if h := sa.run(t, "history", "tomcat-service"); h.code != exitOK || len(strings.Split(strings.TrimSpace(h.stdout), "\n")) != 3 {
		t.Errorf("history exited %d: %s", h.code, h.stdout)
	}
	// The blue/green rollback of the app (switch production back) needs
	// nothing more.
	if r := sa.run(t, "rollback", "tomcat-service"); r.code != exitOK {
		t.Errorf("rollback of the app exited %d", r.code)
	}
	assertProduction(t, ns, "blue", "tomcat:7")
	assertRedeployAsServiceAccount(t, sa)
	if l := leaseNames(t, ns); len(l) != 0 {
		t.Errorf("locks left behind: %v", l)
	}
}

// assertRedeployAsServiceAccount covers the redeploy path of cutover
// rollback APP under the Role, continuing TestRBACBlueGreenAsServiceAccount
// (production on blue, 7, by the instant rollback, revision 3): 9 goes to
// green with the idle policy update, so blue no longer runs 7, and rolling
// 9 back redeploys 7 to blue from the objects ConfigMap of revision 3,
// through every stage, its own record keeping a copy in a new objects
// ConfigMap.
func assertRedeployAsServiceAccount(t *testing.T, sa *serviceAccount) {
	t.Helper()
	ns := sa.ns
	if r := sa.blueGreen(t, "9", "--idle-policy", "update"); r.code != exitOK {
		t.Fatalf("deploy of 9 with the idle policy update exited %d", r.code)
	}
	assertProduction(t, ns, "green", "tomcat:9")
	if img := getDeployment(t, ns, "tomcat-deployment-blue").Spec.Template.Spec.Containers[0].Image; img != "tomcat:9" {
		t.Fatalf("blue runs %s after the idle policy update, want tomcat:9: the rollback would not redeploy", img)
	}
	r := sa.run(t, "rollback", "tomcat-service", "-o", "json")
	if r.code != exitOK {
		t.Fatalf("redeploying rollback of the app exited %d", r.code)
	}
	want := []string{"Check Env", "Deploy", "Verify Staged", "Confirm", "Switch", "Verify Prod", "Post"}
	if got := finishedStages(t, r.stdout); !slices.Equal(got, want) {
		t.Errorf("stages %v, want the redeploy's %v", got, want)
	}
	assertProduction(t, ns, "blue", "tomcat:7")
	if img := getDeployment(t, ns, "tomcat-deployment-green").Spec.Template.Spec.Containers[0].Image; img != "tomcat:9" {
		t.Errorf("green runs %s, want tomcat:9 kept", img)
	}
	rec := latestRecord(t, ns)
	if rec.Strategy != "rollback" || rec.Revision != 5 || rec.Outcome != release.OutcomeSucceeded || rec.ToColor != "blue" || !rec.HasObjects() {
		t.Errorf("the redeploy's record: %+v, objects kept %v", rec, rec.HasObjects())
	}
	if objs, err := release.NewStore(cluster.Client, ns).Objects(context.Background(), rec); err != nil || len(objs) == 0 {
		t.Errorf("the redeploy's record keeps %d objects (%v) in cutover-tomcat-service-r5-objects", len(objs), err)
	}
}

func TestRBACRollingAndRollbackAsServiceAccount(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	sa := installRBAC(t, ns, nil)
	file := writeFile(t, "app.yaml", rbacApp)
	for _, v := range []string{"7", "8"} {
		if r := sa.deployApp(t, file, v); r.code != exitOK {
			t.Fatalf("deploy %s exited %d", v, r.code)
		}
	}
	before := snapshot(t, ns)
	if r := sa.deployApp(t, file, "9", "--dry-run"); r.code != exitOK {
		t.Fatalf("dry run exited %d", r.code)
	}
	if after := snapshot(t, ns); !slices.Equal(before, after) {
		t.Errorf("dry run changed the namespace: %v -> %v", before, after)
	}
	if r := sa.run(t, "rollback", "deployment/web", "-o", "json"); r.code != exitOK {
		t.Fatalf("rollback exited %d", r.code)
	}
	assertRunning(t, ns, "tomcat:7")
}

// TestRBACServiceProxy covers the one rule no CLI flow above uses: checks
// through the API server's service proxy. With the rule the API server
// itself answers (no endpoints: the Service selects no pod); without it,
// 403.
func TestRBACServiceProxy(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	_, role, _ := rbacObjects(t)
	sa := installRBAC(t, ns, nil)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "probe"}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": "nothing"}, Ports: []corev1.ServicePort{{Port: 80}},
	}}
	if _, err := cluster.Client.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", sa.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	probe := func() string {
		h, err := verify.NewServiceProxyHTTP(cfg, ns, "probe", "", "/")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res := h.Probe(ctx)
		t.Logf("probe: %+v", res)
		return res.Detail
	}
	if d := probe(); strings.Contains(d, "403") || !strings.Contains(d, "503") {
		t.Errorf("with services/proxy get: %q, want the API server's 503 (no endpoints)", d)
	}
	g := grant{"", "services/proxy", "get"}
	sa.setRules(t, withoutGrant(role.Rules, g), g, false)
	if d := probe(); !strings.Contains(d, "403") || !strings.Contains(d, `cannot get resource "services/proxy"`) {
		t.Errorf("without services/proxy get: %q, want 403 naming the verb and resource", d)
	}
}

// rbacFlow is a command run as the ServiceAccount, after a setup made as
// the admin.
type rbacFlow struct {
	setup func(t *testing.T, ns, file string)
	run   func(t *testing.T, sa *serviceAccount, file string) result
	// busy: the admin also writes during the run, so the namespace is not
	// compared before and after.
	busy bool
}

// adminApp deploys rbacApp as the admin.
func adminApp(t *testing.T, ns, file, version string) {
	t.Helper()
	r := cutover(t, ns, "", "deploy", "-f", file, "-o", "json", "--var", "VERSION="+version, "--var", "BEHAVIOR=ready", "--var", "DEADLINE=60")
	if r.code != exitOK {
		t.Fatalf("setup: deploy %s exited %d", version, r.code)
	}
}

func adminBlueGreen(t *testing.T, ns, version string, extra ...string) {
	t.Helper()
	if r := blueGreen(t, ns, version, extra...); r.code != exitOK {
		t.Fatalf("setup: blue/green %s exited %d", version, r.code)
	}
}

// prodOnly is the blue/green example without its test Services, so that
// the production Service is the only Service cutover writes.
func prodOnly(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"tomcat-deployment.yaml", "tomcat-service.yaml"} {
		b, err := os.ReadFile(filepath.Join("../../examples/blue-green", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// waitPending waits until the app's newest record waits for approval, or
// the run ends (done is closed or sent on).
func waitPending(t *testing.T, ns string, done chan result) bool {
	t.Helper()
	store := release.NewStore(cluster.Client, ns)
	for {
		r, err := store.Latest(context.Background(), "tomcat-service")
		if err == nil && r != nil && r.Approval != nil && r.Approval.State == release.ApprovalPending {
			return true
		}
		select {
		case res := <-done:
			done <- res // the run ended without waiting: its result is the caller's
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var rbacFlows = map[string]rbacFlow{
	// A rolling update 7 to 8 of rbacApp.
	"rolling": {
		setup: func(t *testing.T, ns, file string) { adminApp(t, ns, file, "7") },
		run: func(t *testing.T, sa *serviceAccount, file string) result {
			return sa.deployApp(t, file, "8", "--timeout", "6s", "--rollback-timeout", "4s")
		},
	},
	// The first deploy of rbacApp: every object is created.
	"rolling-first": {
		setup: func(*testing.T, string, string) {},
		run: func(t *testing.T, sa *serviceAccount, file string) result {
			return sa.deployApp(t, file, "7", "--timeout", "6s", "--rollback-timeout", "4s")
		},
	},
	// cutover rollback deployment/web from 8 to 7.
	"rollback": {
		setup: func(t *testing.T, ns, file string) { adminApp(t, ns, file, "7"); adminApp(t, ns, file, "8") },
		run: func(t *testing.T, sa *serviceAccount, _ string) result {
			return sa.run(t, "rollback", "deployment/web", "--timeout", "6s", "-o", "json")
		},
	},
	// Blue/green 7 to 8, blue to green.
	"blue-green": {
		setup: func(t *testing.T, ns, _ string) { adminBlueGreen(t, ns, "7") },
		run: func(t *testing.T, sa *serviceAccount, _ string) result {
			return sa.blueGreen(t, "8", "--timeout", "10s")
		},
	},
	// The first blue/green deploy: Switch creates the production Service.
	"blue-green-first": {
		setup: func(*testing.T, string, string) {},
		run: func(t *testing.T, sa *serviceAccount, _ string) result {
			return sa.blueGreen(t, "7", "--timeout", "6s")
		},
	},
	// Blue/green 7 to 8 of an app without test Services: the production
	// Service is first written at Switch.
	"blue-green-prod-only": {
		setup: func(t *testing.T, ns, _ string) {
			r := cutover(t, ns, "", "deploy", "--strategy", "blue-green", "-f", prodOnly(t), "--service", "tomcat-service", "--var", "TOMCAT_VERSION=7")
			if r.code != exitOK {
				t.Fatalf("setup exited %d", r.code)
			}
		},
		run: func(t *testing.T, sa *serviceAccount, _ string) result {
			return sa.run(t, "deploy", "--strategy", "blue-green", "-f", prodOnly(t), "--service", "tomcat-service",
				"--var", "TOMCAT_VERSION=8", "-o", "json", "--timeout", "10s")
		},
	},
	// cutover rollback APP redeploying 7 to blue, which runs 8 since the
	// deploy of 8 to green (idle policy update).
	"rollback-redeploy": {
		setup: func(t *testing.T, ns, _ string) {
			adminBlueGreen(t, ns, "7")
			adminBlueGreen(t, ns, "8", "--idle-policy", "update")
		},
		run: func(t *testing.T, sa *serviceAccount, _ string) result {
			return sa.run(t, "rollback", "tomcat-service", "-o", "json", "--timeout", "10s")
		},
	},
	// Blue/green 7 to 8 with --approval manual, approved by the admin.
	"blue-green-approval": {
		setup: func(t *testing.T, ns, _ string) { adminBlueGreen(t, ns, "7") },
		run: func(t *testing.T, sa *serviceAccount, _ string) result {
			done := make(chan result, 1)
			go func() { done <- sa.blueGreen(t, "8", "--approval", "manual", "--approval-timeout", "30s") }()
			if waitPending(t, sa.ns, done) {
				cutover(t, sa.ns, "", "approve", "tomcat-service", "--by", "alice")
			}
			return <-done
		},
		busy: true,
	},
	// Blue/green 7 to 8 waiting for an approval that never comes, longer
	// than the lock's 30 s lease.
	"blue-green-long": {
		setup: func(t *testing.T, ns, _ string) { adminBlueGreen(t, ns, "7") },
		run: func(t *testing.T, sa *serviceAccount, _ string) result {
			return sa.blueGreen(t, "8", "--approval", "manual", "--approval-timeout", "45s")
		},
	},
	// Blue/green 7 to 8 of an app with 31 records: one is pruned.
	"blue-green-prune": {
		setup: func(t *testing.T, ns, _ string) {
			adminBlueGreen(t, ns, "7")
			store := release.NewStore(cluster.Client, ns)
			for range engine.KeepRecords {
				r := &release.Record{App: "tomcat-service", Strategy: "blue-green", Outcome: release.OutcomeSucceeded, ToColor: "blue"}
				if err := store.Create(context.Background(), r); err != nil {
					t.Fatal(err)
				}
			}
		},
		run: func(t *testing.T, sa *serviceAccount, _ string) result {
			return sa.blueGreen(t, "8", "--timeout", "10s")
		},
	},
	// cutover approve as the ServiceAccount, while the admin's release
	// waits (rejected by the admin afterwards).
	"approve": {
		setup: func(t *testing.T, ns, _ string) { adminBlueGreen(t, ns, "7") },
		run: func(t *testing.T, sa *serviceAccount, _ string) result {
			done := make(chan result, 1)
			go func() { done <- blueGreen(t, sa.ns, "8", "--approval", "manual", "--approval-timeout", "30s") }()
			if !waitPending(t, sa.ns, done) {
				t.Fatal("the admin's release did not wait for approval")
			}
			r := sa.run(t, "approve", "tomcat-service", "--by", "alice")
			cutover(t, sa.ns, "", "reject", "tomcat-service", "--by", "admin")
			<-done
			return r
		},
		busy: true,
	},
	"status": {
		setup: func(t *testing.T, ns, _ string) { adminBlueGreen(t, ns, "7") },
		run:   func(t *testing.T, sa *serviceAccount, _ string) result { return sa.run(t, "status", "tomcat-service") },
	},
	"history": {
		setup: func(t *testing.T, ns, _ string) { adminBlueGreen(t, ns, "7") },
		run:   func(t *testing.T, sa *serviceAccount, _ string) result { return sa.run(t, "history", "tomcat-service") },
	},
}

// missingCase removes grants from the Role and runs a flow. Every case
// must give a refusal: exit 3, a message naming the verb and resource that
// are missing, and the namespace unchanged (no object, no record, no
// lock). Since session 9 no case is a known gap: the pre-flight checks
// every permission a run may need, list and watch included, so what used
// to fail in silence mid-run (a lock left behind, a record stuck at
// running, an informer retrying until --timeout) is refused before the
// first write.
type missingCase struct {
	remove []grant
	flow   string
}

func one(group, resource, verb string) []grant { return []grant{{group, resource, verb}} }

func listWatch(group, resource string) []grant {
	return []grant{{group, resource, "list"}, {group, resource, "watch"}}
}

var missingCases = []missingCase{
	// Server-side apply and its dry run: refused before any write.
	{remove: one("apps", "deployments", "get"), flow: "rolling"},
	{remove: one("apps", "deployments", "patch"), flow: "rolling"},
	{remove: one("apps", "deployments", "create"), flow: "rolling-first"},
	{remove: one("autoscaling", "horizontalpodautoscalers", "list"), flow: "rolling"},
	{remove: one("", "services", "get"), flow: "rolling"},
	{remove: one("", "services", "patch"), flow: "rolling"},
	{remove: one("", "services", "create"), flow: "rolling-first"},
	{remove: one("", "configmaps", "get"), flow: "rolling"},
	{remove: one("", "configmaps", "patch"), flow: "rolling"},
	{remove: one("", "configmaps", "create"), flow: "rolling-first"},
	{remove: one("", "secrets", "get"), flow: "rolling"},
	{remove: one("", "secrets", "patch"), flow: "rolling"},
	{remove: one("", "secrets", "create"), flow: "rolling-first"},
	// Waiting for readiness.
	{remove: listWatch("apps", "deployments"), flow: "rolling"},
	{remove: listWatch("apps", "replicasets"), flow: "rolling"},
	{remove: listWatch("", "pods"), flow: "rolling"},
	{remove: listWatch("", "services"), flow: "rolling"},
	{remove: listWatch("", "configmaps"), flow: "rolling"},
	{remove: listWatch("", "secrets"), flow: "rolling"},
	{remove: one("apps", "deployments", "list"), flow: "rolling"},
	{remove: one("apps", "deployments", "watch"), flow: "rolling"},
	// cutover rollback deployment/NAME.
	{remove: one("apps", "deployments", "get"), flow: "rollback"},
	{remove: one("apps", "replicasets", "list"), flow: "rollback"},
	{remove: one("apps", "deployments", "patch"), flow: "rollback"},
	// Blue/green: Check Env, Deploy, Switch.
	{remove: one("", "services", "get"), flow: "blue-green"},
	{remove: one("", "services", "patch"), flow: "blue-green"}, // the test Services' dry run finds it
	{remove: one("", "services", "patch"), flow: "blue-green-prod-only"},
	{remove: listWatch("discovery.k8s.io", "endpointslices"), flow: "blue-green-first"},
	// The endpoint drift guard's repair: refused before any write.
	{remove: one("discovery.k8s.io", "endpointslices", "update"), flow: "rolling"},
	{remove: one("discovery.k8s.io", "endpointslices", "update"), flow: "blue-green"},
	// Blue/green: the lock.
	{remove: one("coordination.k8s.io", "leases", "get"), flow: "blue-green"},
	{remove: one("coordination.k8s.io", "leases", "create"), flow: "blue-green"},
	{remove: one("coordination.k8s.io", "leases", "delete"), flow: "blue-green"},
	{remove: one("coordination.k8s.io", "leases", "update"), flow: "blue-green-long"},
	// Blue/green: release records and approvals.
	{remove: one("", "configmaps", "create"), flow: "blue-green"},
	{remove: one("", "configmaps", "list"), flow: "blue-green"},
	{remove: one("", "configmaps", "update"), flow: "blue-green"},
	{remove: one("", "configmaps", "delete"), flow: "blue-green-prune"},
	{remove: one("", "configmaps", "watch"), flow: "blue-green-approval"},
	// cutover rollback APP's redeploy: the objects are read first.
	{remove: one("", "configmaps", "get"), flow: "rollback-redeploy"},
	// approve, status, history.
	{remove: one("", "configmaps", "update"), flow: "approve"},
	{remove: one("", "configmaps", "list"), flow: "approve"},
	{remove: one("", "configmaps", "list"), flow: "status"},
	{remove: one("", "configmaps", "list"), flow: "history"},
}

func (c missingCase) name() string {
	var parts []string
	for _, g := range c.remove {
		parts = append(parts, g.String())
	}
	return "without " + strings.Join(parts, ", ") + "/" + c.flow
}

func TestRBACMissingVerb(t *testing.T) {
	t.Parallel()
	_, role, _ := rbacObjects(t)
	for _, tc := range missingCases {
		t.Run(tc.name(), func(t *testing.T) {
			t.Parallel()
			flow, ok := rbacFlows[tc.flow]
			if !ok {
				t.Fatalf("no flow %q", tc.flow)
			}
			ns := cluster.Namespace(t)
			file := writeFile(t, "app.yaml", rbacApp)
			sa := installRBAC(t, ns, nil)
			flow.setup(t, ns, file)
			rules := role.Rules
			for _, g := range tc.remove {
				rules = withoutGrant(rules, g)
			}
			for _, g := range tc.remove {
				sa.setRules(t, rules, g, false)
			}
			before, locksBefore := snapshot(t, ns), leaseNames(t, ns)
			r := flow.run(t, sa, file)
			if r.code != exitBadInput {
				t.Fatalf("exit %d; want %d, refused naming the missing verb", r.code, exitBadInput)
			}
			assertForbidden(t, r.stderr, tc.remove)
			if after := snapshot(t, ns); !flow.busy && !slices.Equal(before, after) {
				t.Errorf("refused, yet the namespace changed:\nbefore %v\nafter  %v", before, after)
			}
			if locks := leaseNames(t, ns); !flow.busy && !slices.Equal(locksBefore, locks) {
				t.Errorf("refused, yet the locks changed: %v -> %v", locksBefore, locks)
			}
		})
	}
}

// assertForbidden checks that a refusal says what is missing: "forbidden"
// and, for one of the removed grants, `cannot VERB resource "RESOURCE"`.
func assertForbidden(t *testing.T, stderr string, removed []grant) {
	t.Helper()
	if !strings.Contains(stderr, "forbidden") {
		t.Errorf("the refusal does not say forbidden: %s", stderr)
	}
	for _, g := range removed {
		if strings.Contains(stderr, fmt.Sprintf("cannot %s resource %q", g.verb, g.resource)) {
			return
		}
	}
	t.Errorf("the refusal names none of %v: %s", removed, stderr)
}

// TestRBACRoleShape checks the file itself: namespaced, no wildcard, no
// verb that cutover does not need, and every grant covered by a test above.
func TestRBACRoleShape(t *testing.T) {
	t.Parallel()
	sa, role, rb := rbacObjects(t)
	for _, m := range []metav1.ObjectMeta{sa.ObjectMeta, role.ObjectMeta, rb.ObjectMeta} {
		if m.Name != "cutover" || m.Namespace != "" {
			t.Errorf("%s/%s: want the name cutover and no namespace (it comes from -n)", m.Namespace, m.Name)
		}
	}
	if rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != role.Name || len(rb.Subjects) != 1 ||
		rb.Subjects[0].Kind != "ServiceAccount" || rb.Subjects[0].Name != sa.Name {
		t.Errorf("the RoleBinding must bind Role %s to ServiceAccount %s only: %+v", role.Name, sa.Name, rb)
	}
	covered := map[grant]bool{{"", "services/proxy", "get"}: true} // TestRBACServiceProxy
	for _, tc := range missingCases {
		for _, g := range tc.remove {
			covered[g] = true
		}
	}
	for _, r := range role.Rules {
		if len(r.APIGroups) != 1 || len(r.NonResourceURLs) > 0 || len(r.ResourceNames) > 0 {
			t.Errorf("rule %+v: want one API group, resources only", r)
		}
		for _, v := range r.Verbs {
			if !slices.Contains([]string{"get", "list", "watch", "patch", "create", "update", "delete"}, v) {
				t.Errorf("rule %+v: verb %q", r, v)
			}
		}
	}
	for _, g := range granted(role.Rules) {
		if strings.Contains(g.group+g.resource+g.verb, "*") {
			t.Errorf("wildcard: %s", g)
		}
		if !covered[g] {
			t.Errorf("%s is granted but no test removes it: add a missingCases row (or drop the grant)", g)
		}
		switch {
		case g.resource == "secrets" && (g.verb == "update" || g.verb == "delete"),
			g.verb == "delete" && g.resource != "leases" && g.resource != "configmaps",
			strings.HasPrefix(g.resource, "pods/"):
			t.Errorf("%s: cutover never needs it", g)
		}
	}
}

// TestRBACOptionalClusterRoleForCRDs: a CRD in the files needs the
// optional ClusterRole; without it the run is refused before any write.
func TestRBACOptionalClusterRoleForCRDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := cluster.Namespace(t)
	group := ns + ".example.com"
	_, role, _ := rbacObjects(t)
	rules := append(slices.Clone(role.Rules), rbacv1.PolicyRule{APIGroups: []string{group}, Resources: []string{"widgets"},
		Verbs: []string{"get", "list", "watch", "patch", "create"}})
	sa := installRBAC(t, ns, rules)
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	t.Cleanup(func() {
		_ = dynamicFor(t).Resource(crdGVR).Delete(ctx, "widgets."+group, metav1.DeleteOptions{})
		_ = cluster.Client.RbacV1().ClusterRoles().Delete(ctx, "cutover-crds-"+ns, metav1.DeleteOptions{})
		_ = cluster.Client.RbacV1().ClusterRoleBindings().Delete(ctx, "cutover-crds-"+ns, metav1.DeleteOptions{})
	})
	file := writeFile(t, "crd.yaml", widgetManifests(group, "3"))
	r := sa.run(t, "deploy", "-f", file, "-o", "json")
	if r.code != exitBadInput {
		t.Fatalf("without the ClusterRole: exit %d, want %d", r.code, exitBadInput)
	}
	assertForbidden(t, r.stderr, []grant{{"apiextensions.k8s.io", "customresourcedefinitions", "get"}})
	if _, err := dynamicFor(t).Resource(crdGVR).Get(ctx, "widgets."+group, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("refused, yet the CRD is there: %v", err)
	}

	data, err := os.ReadFile("../../deploy/rbac/clusterrole-crds.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(strings.ReplaceAll(string(data), "NAMESPACE", ns), "\n---\n")
	if len(docs) != 2 {
		t.Fatalf("clusterrole-crds.yaml: %d documents, want a ClusterRole and a ClusterRoleBinding", len(docs))
	}
	var cr rbacv1.ClusterRole
	var crb rbacv1.ClusterRoleBinding
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &cr); err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &crb); err != nil {
		t.Fatal(err)
	}
	if cr.Kind != "ClusterRole" || crb.Kind != "ClusterRoleBinding" || crb.RoleRef.Name != cr.Name || crb.Name != "cutover-crds-"+ns {
		t.Fatalf("clusterrole-crds.yaml: %s %s bound by %s %s to %s", cr.Kind, cr.Name, crb.Kind, crb.Name, crb.RoleRef.Name)
	}
	cr.Name = "cutover-crds-" + ns // one per test run: the test bed is shared
	crb.RoleRef.Name = cr.Name
	if _, err := cluster.Client.RbacV1().ClusterRoles().Create(ctx, &cr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.Client.RbacV1().ClusterRoleBindings().Create(ctx, &crb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sa.waitAllowed(t, grant{"apiextensions.k8s.io", "customresourcedefinitions", "patch"}, true)
	if r := sa.run(t, "deploy", "-f", file, "-o", "json"); r.code != exitOK {
		t.Fatalf("with the ClusterRole: exit %d", r.code)
	}
	w, err := dynamicFor(t).Resource(schema.GroupVersionResource{Group: group, Version: "v1", Resource: "widgets"}).
		Namespace(ns).Get(ctx, "sprocket", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if size, _, _ := unstructuredInt(w.Object, "spec", "size"); size != 3 {
		t.Errorf("widget size %d, want 3", size)
	}
}

// TestRBACFileDeploysWithCutover: the README's way to install the file,
// with cutover itself, gives a ServiceAccount that can deploy.
func TestRBACFileDeploysWithCutover(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	if r := cutover(t, ns, "", "deploy", "-f", rbacFile, "-o", "json"); r.code != exitOK {
		t.Fatalf("deploy of %s exited %d", rbacFile, r.code)
	}
	kc, _ := tokenKubeconfig(t, ns, "cutover", 10*time.Minute)
	// No -n: the namespace comes from the kubeconfig's context.
	file := writeFile(t, "app.yaml", rbacApp)
	r := cutover(t, "", "", "deploy", "-f", file, "--kubeconfig", kc, "-o", "json",
		"--var", "VERSION=7", "--var", "BEHAVIOR=ready", "--var", "DEADLINE=60")
	if r.code != exitOK {
		t.Fatalf("deploy as the ServiceAccount exited %d", r.code)
	}
	assertRunning(t, ns, "tomcat:7")
}

// tokenKubeconfig writes a kubeconfig for the test bed that authenticates
// as the ServiceAccount sa of ns with a fresh token, its context's
// namespace ns, and returns its path and content.
func tokenKubeconfig(t *testing.T, ns, sa string, ttl time.Duration) (string, *clientcmdapi.Config) {
	t.Helper()
	tok, err := cluster.Client.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), sa,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(ttl.Seconds()))}},
		metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["testbed"] = &clientcmdapi.Cluster{Server: cluster.Config.Host, CertificateAuthorityData: cluster.Config.CAData}
	cfg.AuthInfos["cutover"] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	cfg.Contexts["cutover"] = &clientcmdapi.Context{Cluster: "testbed", AuthInfo: "cutover", Namespace: ns}
	cfg.CurrentContext = "cutover"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path, cfg
}

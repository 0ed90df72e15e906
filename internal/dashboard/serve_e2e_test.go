package dashboard

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/release"
	"github.com/cutover/cutover/internal/testinfra/testbed"
)

// proxyHeader is the header the tests' "authenticating proxy" sets.
const proxyHeader = "X-Forwarded-Access-Token"

// serveBed is a namespace with the shipped dashboard RBAC applied, people
// bound to the shipped Roles, and a dashboard in serve mode acting with
// the dashboard's ServiceAccount token only.
type serveBed struct {
	ns     string
	url    string
	client *http.Client // trusts the test server's certificate; no redirects
	cert   *x509.Certificate
	// tokens of the people, by ServiceAccount name: viewer (Role
	// cutover-viewer), approver (cutover-approver), stranger (none).
	tokens map[string]string
}

// serveBedOptions vary the serve bed's dashboard.
type serveBedOptions struct {
	others   []string // namespaces it shows beside its own, which hold nothing of it
	rootPath string   // Options.RootPath; the bed's url ends with it
}

// newServeBed makes the serve bed.
func newServeBed(t *testing.T, o serveBedOptions) *serveBed {
	t.Helper()
	ns := cluster.Namespace(t)
	admin := clientsFor(t, ns)
	applyManifest(t, admin, "../../deploy/dashboard/dashboard.yaml", ns)
	applyManifest(t, admin, "../../deploy/dashboard/roles.yaml", ns)
	b := &serveBed{ns: ns, tokens: map[string]string{}}
	for sa, role := range map[string]string{"viewer": "cutover-viewer", "approver": "cutover-approver", "stranger": ""} {
		createServiceAccount(t, ns, sa, role)
		b.tokens[sa] = saToken(t, ns, sa)
	}
	dash := dashboardClients(t, ns, saToken(t, ns, "cutover-dashboard"))
	ctx, cancel := context.WithCancel(context.Background())
	s, err := New(ctx, Options{Clients: dash, Namespaces: append([]string{ns}, o.others...), RootPath: o.rootPath, Log: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		Serve: &ServeOptions{TokenHeader: proxyHeader}})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(s.Handler())
	t.Cleanup(func() { cancel(); srv.Close() })
	b.url = srv.URL + o.rootPath
	b.client = srv.Client()
	b.cert = srv.Certificate()
	b.client.Timeout = time.Minute
	b.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return b
}

// do sends a request with the given token in the proxy's header (none if
// empty) and extra headers, and returns the response and its body.
func (b *serveBed) do(t *testing.T, method, path, token string, form url.Values, header ...string) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if token != "" {
		req.Header.Set(proxyHeader, token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(out)
}

// TestServeMode: the dashboard for many people lets the API server decide
// who may see and do what. Its own ServiceAccount has only the shipped
// RBAC (reviews and impersonation, no right on the namespace's objects),
// so every read and write it makes for a person is one the person may
// make: the approval that succeeds proves the impersonation.
func TestServeMode(t *testing.T) {
	t.Parallel()
	b := newServeBed(t, serveBedOptions{})
	done := waitingRelease(t, b.ns)
	page := appPath(b.ns, app)

	t.Run("no token: the sign-in form, or 401", func(t *testing.T) {
		if resp, _ := b.do(t, http.MethodGet, "/", "", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin" {
			t.Errorf("GET / without a token: %d to %q, want 303 to /signin", resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp, _ := b.do(t, http.MethodGet, "/events", "", nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /events without a token: %d, want 401", resp.StatusCode)
		}
		if resp, _ := b.do(t, http.MethodPost, page+"/approve", "", url.Values{}); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("POST approve without a token: %d, want 401", resp.StatusCode)
		}
	})
	t.Run("bogus and expired tokens are refused", func(t *testing.T) {
		uid := serviceAccountUID(t, b.ns, "approver")
		now := time.Now()
		expired, err := cluster.SignServiceAccountToken(testbed.TokenClaims{Namespace: b.ns, ServiceAccount: "approver", UID: uid,
			NotBefore: now.Add(-2 * time.Hour), Expires: now.Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		fresh, err := cluster.SignServiceAccountToken(testbed.TokenClaims{Namespace: b.ns, ServiceAccount: "approver", UID: uid,
			NotBefore: now.Add(-time.Minute), Expires: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		for name, token := range map[string]string{"bogus": "not-a-token", "expired": expired} {
			if resp, _ := b.do(t, http.MethodGet, "/", token, nil); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("a %s token: %d, want 401", name, resp.StatusCode)
			}
		}
		// The same signature an hour from expiry is accepted: the expired
		// one was refused for its expiry, nothing else.
		if resp, _ := b.do(t, http.MethodGet, "/", fresh, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("a fresh token signed the same way: %d, want 200", resp.StatusCode)
		}
	})
	t.Run("a person without a Role gets 403", func(t *testing.T) {
		if resp, _ := b.do(t, http.MethodGet, "/", b.tokens["stranger"], nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET / as a person without a Role: %d, want 403", resp.StatusCode)
		}
	})

	var viewerCSRF string
	t.Run("the viewer sees the release, with disabled buttons", func(t *testing.T) {
		resp, body := b.do(t, http.MethodGet, page, b.tokens["viewer"], nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "waiting for approval") {
			t.Fatalf("GET %s as the viewer: %d, want 200 with the waiting release:\n%s", page, resp.StatusCode, body)
		}
		for _, button := range []string{">Approve</button>", ">Reject</button>"} {
			if !disabledButton(body, button) {
				t.Errorf("the viewer's %s is not disabled:\n%s", button, body)
			}
		}
		viewerCSRF = csrfToken(t, body)
		if resp, _ := b.do(t, http.MethodGet, page+"/approve", b.tokens["viewer"], nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("the viewer's GET of the approval's confirmation page: %d, want 403", resp.StatusCode)
		}
	})
	t.Run("the viewer's forged approval is refused, nothing changes", func(t *testing.T) {
		resp, _ := b.do(t, http.MethodPost, page+"/approve", b.tokens["viewer"], url.Values{"csrf": {viewerCSRF}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST approve as the viewer: %d, want 403", resp.StatusCode)
		}
		assertPending(t, b.ns)
	})

	_, approverPage := b.do(t, http.MethodGet, page, b.tokens["approver"], nil)
	if disabledButton(approverPage, ">Approve</button>") {
		t.Fatalf("the approver's Approve is disabled:\n%s", approverPage)
	}
	approverCSRF := csrfToken(t, approverPage)
	t.Run("forms without the approver's token, or from another site, are refused", func(t *testing.T) {
		cases := map[string]struct {
			form   url.Values
			header []string
		}{
			"no token":             {url.Values{"comment": {"lgtm"}}, nil},
			"the viewer's token":   {url.Values{"csrf": {viewerCSRF}}, nil},
			"posted by other site": {url.Values{"csrf": {approverCSRF}}, []string{"Origin", "https://attacker.example"}},
		}
		for name, c := range cases {
			if resp, _ := b.do(t, http.MethodPost, page+"/approve", b.tokens["approver"], c.form, c.header...); resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s: %d, want 403", name, resp.StatusCode)
			}
		}
		assertPending(t, b.ns)
	})
	t.Run("the approver approves; the record names them", func(t *testing.T) {
		resp, body := b.do(t, http.MethodPost, page+"/approve", b.tokens["approver"], url.Values{"csrf": {approverCSRF}, "comment": {"ship it"}},
			"Origin", b.url)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST approve as the approver: %d, want 303:\n%s", resp.StatusCode, body)
		}
		waitRun(t, done, "the approved release")
		rec := latestRecord(t, b.ns, app)
		want := "system:serviceaccount:" + b.ns + ":approver"
		if rec.Approval == nil || rec.Approval.State != release.ApprovalApproved || rec.Approval.By != want || rec.Approval.Comment != "ship it" {
			t.Errorf("record's approval %+v, want approved by %s with the comment", rec.Approval, want)
		}
		if got := prodColor(t, b.ns); got != "green" {
			t.Errorf("production selects %q after the approval, want green", got)
		}
	})
}

// TestServeSignIn: the sign-in form takes a token the API server accepts
// and sets an HttpOnly, Secure, SameSite=Strict cookie that names a
// session, not the token; signing out ends it.
func TestServeSignIn(t *testing.T) {
	t.Parallel()
	b := newServeBed(t, serveBedOptions{})
	resp, body := b.do(t, http.MethodPost, "/signin", "", url.Values{"token": {"bogus"}})
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Errorf("sign in with a bogus token: %d with cookies %v, want 401 and none:\n%s", resp.StatusCode, resp.Cookies(), body)
	}
	resp, _ = b.do(t, http.MethodPost, "/signin", "", url.Values{"token": {b.tokens["viewer"]}})
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		t.Fatalf("sign in: %d with cookies %v, want 303 and one cookie", resp.StatusCode, resp.Cookies())
	}
	c := resp.Cookies()[0]
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Name != sessionCookie {
		t.Errorf("cookie %+v: want %s, HttpOnly, Secure, SameSite=Strict", c, sessionCookie)
	}
	if strings.Contains(c.Value, b.tokens["viewer"]) {
		t.Error("the cookie holds the token")
	}
	cookie := sessionCookie + "=" + c.Value
	resp, body = b.do(t, http.MethodGet, "/", "", nil, "Cookie", cookie)
	want := "system:serviceaccount:" + b.ns + ":viewer"
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, want) {
		t.Fatalf("GET / signed in: %d, want 200 naming %s:\n%s", resp.StatusCode, want, body)
	}
	resp, _ = b.do(t, http.MethodPost, "/signout", "", url.Values{"csrf": {csrfToken(t, body)}}, "Cookie", cookie)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %d, want 303", resp.StatusCode)
	}
	if resp, _ = b.do(t, http.MethodGet, "/", "", nil, "Cookie", cookie); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("GET / with the signed-out session: %d, want 303 to the sign-in form", resp.StatusCode)
	}
}

// disabledButton reports whether the page's button whose markup ends with
// end carries the disabled attribute.
func disabledButton(page, end string) bool {
	i := strings.Index(page, end)
	if i < 0 {
		return false
	}
	start := strings.LastIndex(page[:i], "<button")
	return start >= 0 && strings.Contains(page[start:i], " disabled")
}

// waitingRelease releases the app twice in ns, as the test bed's admin:
// the second waits at Confirm when it returns, until it is decided (its
// run then ends on the channel) or the test ends.
func waitingRelease(t *testing.T, ns string) <-chan error {
	t.Helper()
	admin := clientsFor(t, ns)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := deployBlueGreen(ctx, admin, "7", nil); err != nil {
		t.Fatalf("first release: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- deployBlueGreen(ctx, admin, "8", &engine.Approval{Timeout: 5 * time.Minute}) }()
	waitPending(t, ns, done)
	return done
}

// waitRun waits up to 2 minutes for a release's run to end, and fails the
// test unless it succeeded.
func waitRun(t *testing.T, done <-chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s did not finish within 2 minutes", what)
	}
}

// waitPending waits until the app's newest record waits for approval.
func waitPending(t *testing.T, ns string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		r, err := release.NewStore(cluster.Client, ns).Latest(context.Background(), app)
		if err == nil && r != nil && r.Approval != nil && r.Approval.State == release.ApprovalPending {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("the release ended before it waited for approval: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatal("the release did not wait for approval within 2 minutes")
}

func assertPending(t *testing.T, ns string) {
	t.Helper()
	if r := latestRecord(t, ns, app); r.Approval == nil || r.Approval.State != release.ApprovalPending {
		t.Errorf("record's approval %+v, want still pending", r.Approval)
	}
	if got := prodColor(t, ns); got != "blue" {
		t.Errorf("production selects %q, want blue still", got)
	}
}

// applyManifest applies a file of the repository to namespace ns, as
// shipped: its namespaced objects go to ns, its ServiceAccount subjects
// name ns, and its cluster-scoped objects get ns as a suffix (tests run
// side by side).
func applyManifest(t *testing.T, c *kube.Clients, path, ns string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		var obj unstructured.Unstructured
		if err := yaml.Unmarshal(doc, &obj.Object); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if obj.Object == nil {
			continue
		}
		applyObject(t, c, &obj, ns)
	}
}

func applyObject(t *testing.T, c *kube.Clients, obj *unstructured.Unstructured, ns string) {
	t.Helper()
	m, err := c.Mapping(obj.GroupVersionKind())
	if err != nil {
		t.Fatal(err)
	}
	var ri interface {
		Patch(context.Context, string, types.PatchType, []byte, metav1.PatchOptions, ...string) (*unstructured.Unstructured, error)
	}
	if m.Scope.Name() == "namespace" {
		obj.SetNamespace(ns)
		ri = c.Dynamic.Resource(m.Resource).Namespace(ns)
	} else {
		obj.SetName(obj.GetName() + "-" + ns)
		ri = c.Dynamic.Resource(m.Resource)
	}
	if kind := obj.GetKind(); kind == "ClusterRoleBinding" || kind == "RoleBinding" {
		roleRef, _, _ := unstructured.NestedMap(obj.Object, "roleRef")
		if name, _ := roleRef["name"].(string); kind == "ClusterRoleBinding" && !strings.HasPrefix(name, "system:") {
			_ = unstructured.SetNestedField(obj.Object, name+"-"+ns, "roleRef", "name")
		}
		subjects, _, _ := unstructured.NestedSlice(obj.Object, "subjects")
		for _, s := range subjects {
			s.(map[string]any)["namespace"] = ns
		}
		_ = unstructured.SetNestedSlice(obj.Object, subjects, "subjects")
	}
	body, err := obj.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ri.Patch(context.Background(), obj.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: "test", Force: ptr.To(true)}); err != nil {
		t.Fatalf("apply %s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
	if m.Scope.Name() != "namespace" {
		t.Cleanup(func() {
			_ = c.Dynamic.Resource(m.Resource).Delete(context.Background(), obj.GetName(), metav1.DeleteOptions{})
		})
	}
}

// createServiceAccount creates ServiceAccount name in ns, bound to role
// (none if empty).
func createServiceAccount(t *testing.T, ns, name, role string) {
	t.Helper()
	ctx := context.Background()
	_, err := cluster.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if role != "" {
		bindRole(t, ns, ns, name, role)
	}
}

// bindRole binds ServiceAccount saNS/name to the Role of namespace ns.
func bindRole(t *testing.T, ns, saNS, name, role string) {
	t.Helper()
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: saNS + "-" + name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: saNS}}}
	if _, err := cluster.Client.RbacV1().RoleBindings(ns).Create(context.Background(), rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func serviceAccountUID(t *testing.T, ns, name string) string {
	t.Helper()
	sa, err := cluster.Client.CoreV1().ServiceAccounts(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return string(sa.UID)
}

// saToken asks the API server for a token of ServiceAccount name.
func saToken(t *testing.T, ns, name string) string {
	t.Helper()
	tok, err := cluster.Client.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))}},
		metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token of %s: %v", name, err)
	}
	return tok.Status.Token
}

// dashboardClients are clients of namespace ns that authenticate with
// token alone (the test bed's admin credentials left out).
func dashboardClients(t *testing.T, ns, token string) *kube.Clients {
	t.Helper()
	cfg := rest.AnonymousClientConfig(cluster.Config)
	cfg.BearerToken = token
	c, err := kube.ForConfig(cfg, ns, true)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

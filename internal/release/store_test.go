package release_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cutover/cutover/internal/release"
)

func getConfigMap(t *testing.T, ns, name string) *corev1.ConfigMap {
	t.Helper()
	cm, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get configmap: %v", err)
	}
	return cm
}

// storedRevisions lists the revisions of app's ConfigMaps in the cluster,
// newest first.
func storedRevisions(t *testing.T, ns, app string) []int {
	t.Helper()
	list, err := cluster.Client.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "cutover.dev/app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	var revs []int
	for _, cm := range list.Items {
		n, err := strconv.Atoi(cm.Labels["cutover.dev/revision"])
		if err != nil {
			t.Fatalf("configmap %s: revision label: %v", cm.Name, err)
		}
		if want := fmt.Sprintf("cutover-%s-r%d", app, n); cm.Name != want {
			t.Errorf("configmap %s has revision %d, want the name %s", cm.Name, n, want)
		}
		revs = append(revs, n)
	}
	slices.Sort(revs)
	slices.Reverse(revs)
	return revs
}

// storedObjects lists the revisions of app's objects ConfigMaps in the
// cluster, newest first.
func storedObjects(t *testing.T, ns, app string) []int {
	t.Helper()
	list, err := cluster.Client.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "cutover.dev/objects-of=" + app})
	if err != nil {
		t.Fatal(err)
	}
	var revs []int
	for _, cm := range list.Items {
		n, err := strconv.Atoi(cm.Labels["cutover.dev/revision"])
		if err != nil || cm.Name != fmt.Sprintf("cutover-%s-r%d-objects", app, n) {
			t.Errorf("objects configmap %s: revision label %q, %v", cm.Name, cm.Labels["cutover.dev/revision"], err)
		}
		revs = append(revs, n)
	}
	slices.Sort(revs)
	slices.Reverse(revs)
	return revs
}

func create(t *testing.T, s *release.Store, r *release.Record) *release.Record {
	t.Helper()
	if err := s.Create(context.Background(), r); err != nil {
		t.Fatalf("create record: %v", err)
	}
	return r
}

func createN(t *testing.T, s *release.Store, app string, n int) {
	t.Helper()
	for range n {
		create(t, s, &release.Record{App: app, Strategy: "rolling"})
	}
}

func TestCreateAssignsRevisions(t *testing.T) {
	ns := cluster.Namespace(t)
	s := release.NewStore(cluster.Client, ns)
	for want := 1; want <= 3; want++ {
		before := time.Now()
		r := create(t, s, &release.Record{App: "web", Strategy: "blue-green", FromColor: "blue", ToColor: "green"})
		if r.Revision != want {
			t.Errorf("revision %d, want %d", r.Revision, want)
		}
		if r.Namespace != ns || r.Outcome != "running" || r.Started.Before(before.Add(-time.Second)) {
			t.Errorf("namespace %q, outcome %q, started %s: want %s, running, now", r.Namespace, r.Outcome, r.Started, ns)
		}
		cm := getConfigMap(t, ns, fmt.Sprintf("cutover-web-r%d", want))
		wantLabels := map[string]string{
			"app.kubernetes.io/managed-by": "cutover", "cutover.dev/app": "web", "cutover.dev/revision": strconv.Itoa(want),
		}
		for k, v := range wantLabels {
			if cm.Labels[k] != v {
				t.Errorf("label %s=%q, want %q", k, cm.Labels[k], v)
			}
		}
		var stored map[string]any
		if err := json.Unmarshal([]byte(cm.Data["record"]), &stored); err != nil {
			t.Fatal(err)
		}
		if stored["version"] != 1.0 || stored["revision"] != float64(want) || stored["toColor"] != "green" {
			t.Errorf("stored record %s", cm.Data["record"])
		}
	}
	if got := storedRevisions(t, ns, "web"); !slices.Equal(got, []int{3, 2, 1}) {
		t.Errorf("stored revisions %v, want [3 2 1]", got)
	}
	if r := create(t, s, &release.Record{App: "api"}); r.Revision != 1 {
		t.Errorf("first revision of another app is %d, want 1", r.Revision)
	}
}

// TestCreateAfterLatestListsNoMore: a Store that has listed an app's
// records (Latest, under the app's lock) creates the next one without
// listing again; a revision another Store took meanwhile moves it on.
func TestCreateAfterLatestListsNoMore(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	createN(t, release.NewStore(cluster.Client, ns), "web", 2)
	c, proxy := proxied(t)
	s := release.NewStore(c, ns)
	if _, err := s.Latest(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	proxy.Reset()
	if r := create(t, s, &release.Record{App: "web"}); r.Revision != 3 {
		t.Errorf("revision %d, want 3", r.Revision)
	}
	if got := proxy.Breakdown(); got != "POST 1" {
		t.Errorf("requests of Create after Latest: %s, want POST 1", got)
	}
	createN(t, release.NewStore(cluster.Client, ns), "web", 1) // another run's revision 4
	if r := create(t, s, &release.Record{App: "web"}); r.Revision != 5 {
		t.Errorf("revision %d after another Store took 4, want 5", r.Revision)
	}
	if got := storedRevisions(t, ns, "web"); !slices.Equal(got, []int{5, 4, 3, 2, 1}) {
		t.Errorf("stored revisions %v, want [5 4 3 2 1]", got)
	}
}

func TestConcurrentCreatesGetDistinctRevisions(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	const n = 8
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		revs  []int
		start = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			r := &release.Record{App: "web", Holder: fmt.Sprintf("run-%d", i)}
			if err := release.NewStore(cluster.Client, ns).Create(ctx, r); err != nil {
				t.Errorf("create: %v", err)
				return
			}
			mu.Lock()
			revs = append(revs, r.Revision)
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	slices.Sort(revs)
	want := []int{1, 2, 3, 4, 5, 6, 7, 8}
	if !slices.Equal(revs, want) {
		t.Errorf("revisions %v, want %v", revs, want)
	}
	if got := storedRevisions(t, ns, "web"); len(got) != n {
		t.Errorf("%d configmaps, want %d", len(got), n)
	}
}

// TestStoredJSONIsStable pins the JSON other cutover versions read.
func TestStoredJSONIsStable(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	paris := time.FixedZone("CEST", 2*3600)
	at := func(s int) time.Time { return time.Date(2025, 5, 1, 12, 0, s, 500_000_000, paris) }
	r := &release.Record{
		App: "web", Strategy: "blue-green", FromColor: "blue", ToColor: "green",
		Images: []string{"tomcat:8", "envoy:1.30"},
		Stages: []release.Stage{
			{Name: "deploy", Started: at(0), Finished: at(30), Status: "succeeded"},
			{Name: "verify", Started: at(31), Status: "failed", Error: "GET / returned 503"},
		},
		Approval: &release.Approval{State: "pending"},
		Holder:   "ci-host-12/pid 4242",
		By:       "alice",
		Comment:  "after the incident",
		Started:  at(0),
	}
	if err := release.NewStore(cluster.Client, ns).Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	want := `{"version":1,"app":"web","namespace":"` + ns + `","strategy":"blue-green","revision":1,` +
		`"fromColor":"blue","toColor":"green","images":["tomcat:8","envoy:1.30"],` +
		`"stages":[{"name":"deploy","status":"succeeded","started":"2025-05-01T10:00:00.5Z","finished":"2025-05-01T10:00:30.5Z"},` +
		`{"name":"verify","status":"failed","started":"2025-05-01T10:00:31.5Z","error":"GET / returned 503"}],` +
		`"outcome":"running","approval":{"state":"pending"},"holder":"ci-host-12/pid 4242","by":"alice","comment":"after the incident","started":"2025-05-01T10:00:00.5Z"}`
	if got := getConfigMap(t, ns, "cutover-web-r1").Data["record"]; got != want {
		t.Errorf("stored JSON\n%s\nwant\n%s", got, want)
	}
}

func TestUpdateRoundTrip(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	s := release.NewStore(cluster.Client, ns)
	r := create(t, s, &release.Record{App: "web", Strategy: "blue-green", FromColor: "green", ToColor: "blue", Images: []string{"tomcat:8"}})
	started := r.Started
	r.Stages = append(r.Stages,
		release.Stage{Name: "deploy", ID: "deploy", Started: started, Finished: started.Add(time.Minute), Status: "succeeded"},
		release.Stage{Name: "switch", ID: "switch", Started: started.Add(time.Minute), Finished: started.Add(61 * time.Second), Status: "failed", Error: "boom"})
	r.Outcome, r.Error, r.Finished = "rolled-back", "switch: boom", started.Add(2*time.Minute)
	r.By, r.Comment = "system:serviceaccount:prod:alice", "back to green"
	if err := s.Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	r.Outcome = "failed" // a second Update from the same record
	if err := s.Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := release.NewStore(cluster.Client, ns).Get(ctx, "web", 1)
	if err != nil {
		t.Fatal(err)
	}
	if exported(t, got) != exported(t, r) {
		t.Errorf("read back\n%s\nwant\n%s", exported(t, got), exported(t, r))
	}
	if data := getConfigMap(t, ns, "cutover-web-r1").Data["record"]; !strings.Contains(data, `"outcome":"failed"`) {
		t.Errorf("stored record %s", data)
	}
}

func TestGetMissingRecordIsNotFound(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	_, err := release.NewStore(cluster.Client, ns).Get(ctx, "web", 7)
	if !apierrors.IsNotFound(err) {
		t.Errorf("Get of a missing record: %v, want NotFound", err)
	}
}

func TestNewerRecordVersionRefused(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cutover-web-r1", Labels: map[string]string{
			"app.kubernetes.io/managed-by": "cutover", "cutover.dev/app": "web", "cutover.dev/revision": "1",
		}},
		Data: map[string]string{"record": `{"version":2,"app":"web","revision":1,"stages":"a string now"}`},
	}
	if _, err := cluster.Client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s := release.NewStore(cluster.Client, ns)
	if _, err := s.Get(ctx, "web", 1); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("Get of a version 2 record: %v, want an error naming the version", err)
	}
	if r := create(t, s, &release.Record{App: "web"}); r.Revision != 2 {
		t.Errorf("revision %d after a version 2 record, want 2", r.Revision)
	}
}

func TestListAndLatest(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	s := release.NewStore(cluster.Client, ns)
	if r, err := s.Latest(ctx, "web"); r != nil || err != nil {
		t.Fatalf("Latest with no records: %v, %v; want nil, nil", r, err)
	}
	if rs, err := s.List(ctx, "web"); len(rs) != 0 || err != nil {
		t.Fatalf("List with no records: %d records, %v", len(rs), err)
	}
	createN(t, s, "web", 3)
	createN(t, s, "api", 1)
	records, err := s.List(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	var revs []int
	for _, r := range records {
		if r.App != "web" {
			t.Errorf("List(web) returned a record of %s", r.App)
		}
		revs = append(revs, r.Revision)
	}
	if !slices.Equal(revs, []int{3, 2, 1}) {
		t.Errorf("List revisions %v, want [3 2 1]", revs)
	}
	latest, err := s.Latest(ctx, "web")
	if err != nil || latest == nil || latest.Revision != 3 {
		t.Errorf("Latest: %v, %v; want revision 3", latest, err)
	}
}

func TestPrune(t *testing.T) {
	tests := []struct {
		name       string
		records    int
		keep       int
		wantStored []int
	}{
		{"keep two of five", 5, 2, []int{5, 4}},
		{"keep more than there are", 3, 5, []int{3, 2, 1}},
		{"keep one", 3, 1, []int{3}},
		{"default keeps ten", 12, 0, []int{12, 11, 10, 9, 8, 7, 6, 5, 4, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, ctx := cluster.Namespace(t), testCtx(t)
			s := release.NewStore(cluster.Client, ns)
			// Revision 1 as a cutover that kept no objects wrote it.
			createN(t, s, "web", 1)
			for range tt.records - 1 {
				r := &release.Record{App: "web", Strategy: "blue-green", ToColor: "blue"}
				r.SetObjects(load(t, appObjects), nil)
				create(t, s, r)
			}
			createN(t, s, "api", 2)
			if err := s.Prune(ctx, "web", tt.keep); err != nil {
				t.Fatal(err)
			}
			if got := storedRevisions(t, ns, "web"); !slices.Equal(got, tt.wantStored) {
				t.Errorf("stored revisions %v, want %v", got, tt.wantStored)
			}
			// At once, not when the garbage collector gets to them.
			wantObjects := slices.DeleteFunc(slices.Clone(tt.wantStored), func(n int) bool { return n == 1 })
			if got := storedObjects(t, ns, "web"); !slices.Equal(got, wantObjects) {
				t.Errorf("objects of revisions %v, want %v", got, wantObjects)
			}
			if got := storedRevisions(t, ns, "api"); !slices.Equal(got, []int{2, 1}) {
				t.Errorf("another app's records %v, want [2 1] untouched", got)
			}
			if r := create(t, s, &release.Record{App: "web"}); r.Revision != tt.records+1 {
				t.Errorf("revision after pruning %d, want %d", r.Revision, tt.records+1)
			}
		})
	}
}

// TestPruneDeletesObjects: Prune deletes the objects of the records it
// deletes itself, where the garbage collector does not run or is slow.
// Here the collector must not: the objects have a second, live owner.
func TestPruneDeletesObjects(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	s := release.NewStore(cluster.Client, ns)
	for range 2 {
		r := &release.Record{App: "web", Strategy: "blue-green", ToColor: "blue"}
		r.SetObjects(load(t, appObjects), nil)
		create(t, s, r)
	}
	cms := cluster.Client.CoreV1().ConfigMaps(ns)
	pin, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "pin"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	objects := getConfigMap(t, ns, "cutover-web-r1-objects")
	objects.OwnerReferences = append(objects.OwnerReferences, metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: pin.Name, UID: pin.UID})
	if _, err := cms.Update(ctx, objects, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Prune(ctx, "web", 1); err != nil {
		t.Fatal(err)
	}
	if got := storedObjects(t, ns, "web"); !slices.Equal(got, []int{2}) {
		t.Errorf("objects of revisions %v after pruning, want [2]", got)
	}
}

// A detached record (its ConfigMap let go, as the dashboard keeps them)
// still finds its kept objects, read afresh, and still updates: Update
// reads the ConfigMap again first.
func TestUpdateOfDetachedRecord(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	s := release.NewStore(cluster.Client, ns)
	r := &release.Record{App: "web", Strategy: "blue-green", ToColor: "blue", Images: []string{"tomcat:8"}}
	r.SetObjects(load(t, appObjects), nil)
	create(t, s, r)
	read, err := release.NewStore(cluster.Client, ns).Get(ctx, "web", 1)
	if err != nil {
		t.Fatal(err)
	}
	read.Detach()
	if objs, err := s.Objects(ctx, read); err != nil || len(objs) == 0 {
		t.Errorf("objects of a detached record: %d, %v; want them", len(objs), err)
	}
	r.Detach()
	r.Outcome = "succeeded"
	if err := s.Update(ctx, r); err != nil {
		t.Fatalf("update of a detached record: %v", err)
	}
	got, err := release.NewStore(cluster.Client, ns).Get(ctx, "web", 1)
	if err != nil {
		t.Fatal(err)
	}
	if got.Outcome != "succeeded" {
		t.Errorf("stored outcome %q, want succeeded", got.Outcome)
	}
}

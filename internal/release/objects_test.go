package release_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/cutover/cutover/internal/manifest"
	"github.com/cutover/cutover/internal/release"
)

// appObjects is one color's rendering: a Deployment carrying the fields a
// `kubectl get -o yaml` export has (status, server-owned metadata), its
// test Service, a ConfigMap and two Secrets.
const appObjects = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-blue
  uid: 0b7a6c1e-0000-4000-8000-000000000001
  resourceVersion: "4242"
  creationTimestamp: "2025-05-01T10:00:00Z"
  managedFields: [{manager: kubectl, operation: Update}]
  labels: {app: web, role: blue}
spec:
  replicas: 2
  selector: {matchLabels: {app: web, role: blue}}
  template:
    metadata: {labels: {app: web, role: blue}}
    spec:
      containers:
      - {name: web, image: "tomcat:7", ports: [{containerPort: 8080}]}
status:
  readyReplicas: 2
---
apiVersion: v1
kind: Secret
metadata: {name: db}
stringData: {password: hunter2-not-kept}
---
apiVersion: v1
kind: Service
metadata: {name: web-test-blue}
spec:
  selector: {app: web, role: blue}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-settings}
data: {greeting: "$HOME stays as written", port: "8080"}
---
apiVersion: v1
kind: Secret
metadata: {name: api-token}
data: {token: c2VjcmV0}
`

// load parses YAML with the manifest reader, substituting nothing.
func load(t *testing.T, yaml string) []manifest.Object {
	t.Helper()
	set, err := manifest.Load(context.Background(), manifest.Options{Paths: []string{"-"}, Stdin: strings.NewReader(yaml)})
	if err != nil {
		t.Fatal(err)
	}
	return set.Objects
}

// contents renders objects' content only (not their sources), to compare.
func contents(t *testing.T, objs []manifest.Object) string {
	t.Helper()
	var out []string
	for _, o := range objs {
		b, err := json.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return strings.Join(out, "\n")
}

func TestObjectsRoundTripWithoutSecrets(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	s := release.NewStore(cluster.Client, ns)
	objs := load(t, appObjects)
	r := &release.Record{App: "web", Strategy: "blue-green", FromColor: "green", ToColor: "blue"}
	r.SetObjects(objs, nil)
	if !r.HasObjects() || r.ObjectsOmitted != "" {
		t.Fatalf("objects not kept: %q", r.ObjectsOmitted)
	}
	if objs[0].Object["status"] == nil {
		t.Fatal("SetObjects changed the run's objects: it must strip a copy")
	}
	create(t, s, r)

	got, err := s.Get(ctx, "web", r.Revision)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"db", "api-token"}; !slices.Equal(got.SkippedSecrets, want) {
		t.Errorf("skipped secrets %q, want %q", got.SkippedSecrets, want)
	}
	if !got.HasObjects() || got.ObjectsSize() != r.ObjectsSize() {
		t.Errorf("read back: has objects %v, size %d; want %d, from the record alone", got.HasObjects(), got.ObjectsSize(), r.ObjectsSize())
	}
	back, err := s.Objects(ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	want := load(t, appObjects)
	want = slices.Delete(want, 4, 5)
	want = slices.Delete(want, 1, 2)
	delete(want[0].Object, "status")
	meta := want[0].Object["metadata"].(map[string]any)
	for _, f := range []string{"uid", "resourceVersion", "creationTimestamp", "managedFields"} {
		delete(meta, f)
	}
	if g, w := contents(t, back), contents(t, want); g != w {
		t.Errorf("objects read back:\n%s\nwant:\n%s", g, w)
	}
	if src := back[0].Source.String(); !strings.Contains(src, "record cutover-web-r1") {
		t.Errorf("source %q should name the record", src)
	}

	record := getConfigMap(t, ns, "cutover-web-r1")
	if record.BinaryData != nil {
		t.Errorf("the record's ConfigMap has binaryData %v: the objects belong in their own", keys(record.BinaryData))
	}
	assertObjectsConfigMap(t, ns, record, r.ObjectsSize())
	stored := record.Data["record"]
	for _, leak := range []string{"tomcat:7", "containerPort", "hunter2", "c2VjcmV0"} {
		if strings.Contains(stored, leak) {
			t.Errorf("the record's JSON holds %q: %s", leak, stored)
		}
	}
	wantRef := fmt.Sprintf(`"objects":{"configMap":"cutover-web-r1-objects","bytes":%d}`, r.ObjectsSize())
	if !strings.Contains(stored, wantRef) {
		t.Errorf("the record's JSON does not locate its objects with %s: %s", wantRef, stored)
	}
	if js := exported(t, got); strings.Contains(js, "containerPort") || !strings.Contains(js, `"skippedSecrets":["db","api-token"]`) {
		t.Errorf("JSON of the record (what status -o json prints): %s", js)
	}
	// A record never lists or watches as its objects.
	if list, err := s.List(ctx, "web"); err != nil || len(list) != 1 {
		t.Errorf("List: %d records, %v; want 1", len(list), err)
	}
}

// assertObjectsConfigMap checks the objects ConfigMap of a record: named
// after it, owned by it, labelled so that no record selector matches it,
// immutable, holding size bytes.
func assertObjectsConfigMap(t *testing.T, ns string, record *corev1.ConfigMap, size int) *corev1.ConfigMap {
	t.Helper()
	cm := getConfigMap(t, ns, record.Name+"-objects")
	refs := cm.OwnerReferences
	if len(refs) != 1 || refs[0].APIVersion != "v1" || refs[0].Kind != "ConfigMap" || refs[0].Name != record.Name || refs[0].UID != record.UID ||
		(refs[0].Controller != nil && *refs[0].Controller) || (refs[0].BlockOwnerDeletion != nil && *refs[0].BlockOwnerDeletion) {
		t.Errorf("owner references %+v, want the record %s (uid %s), neither controller nor blocking", refs, record.Name, record.UID)
	}
	wantLabels := map[string]string{"app.kubernetes.io/managed-by": "cutover", "cutover.dev/objects-of": record.Labels["cutover.dev/app"],
		"cutover.dev/revision": record.Labels["cutover.dev/revision"]}
	if !maps.Equal(cm.Labels, wantLabels) {
		t.Errorf("labels %v, want %v", cm.Labels, wantLabels)
	}
	if cm.Immutable == nil || !*cm.Immutable || len(cm.Data) != 0 || len(cm.BinaryData) != 1 || len(cm.BinaryData["objects.yaml.gz"]) != size {
		t.Errorf("immutable %v, data keys %d, binaryData %v (%d bytes); want immutable, only objects.yaml.gz, %d bytes",
			cm.Immutable, len(cm.Data), keys(cm.BinaryData), len(cm.BinaryData["objects.yaml.gz"]), size)
	}
	return cm
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestUpdateNeverWritesObjects: a run rewrites its record at every stage;
// none of those writes may carry, or touch, the objects.
func TestUpdateNeverWritesObjects(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	s := release.NewStore(cluster.Client, ns)
	r := &release.Record{App: "web", Strategy: "blue-green", ToColor: "blue"}
	r.SetObjects(load(t, randomConfigMap(64<<10)), nil) // large enough to notice
	create(t, s, r)
	objects := getConfigMap(t, ns, "cutover-web-r1-objects")

	updates := []struct {
		name   string
		record func(t *testing.T) *release.Record
	}{
		// What the Recorder does: updates of a copy of the created record.
		{"a copy of the created record", func(*testing.T) *release.Record { c := *r; return &c }},
		{"the created record", func(*testing.T) *release.Record { return r }},
		// What closeInterrupted and approvals do: a record read back.
		{"a record read back", func(t *testing.T) *release.Record {
			got, err := s.Get(ctx, "web", 1)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}},
	}
	for i, u := range updates {
		t.Run(u.name, func(t *testing.T) {
			rec := u.record(t)
			rec.Stages = append(rec.Stages, release.Stage{Name: "stage " + itoa(i), Started: time.Now(), Status: release.StageRunning})
			if err := s.Update(ctx, rec); err != nil {
				t.Fatal(err)
			}
			record := getConfigMap(t, ns, "cutover-web-r1")
			if record.BinaryData != nil || len(record.Data["record"]) > 2<<10 {
				t.Errorf("the record holds binaryData %v and %d bytes of JSON: an update carried the objects", keys(record.BinaryData), len(record.Data["record"]))
			}
			if got := getConfigMap(t, ns, "cutover-web-r1-objects"); got.ResourceVersion != objects.ResourceVersion {
				t.Errorf("objects ConfigMap at resourceVersion %s after an update, want %s as created", got.ResourceVersion, objects.ResourceVersion)
			}
			if got, err := s.Get(ctx, "web", 1); err != nil || !got.HasObjects() || got.ObjectsSize() != r.ObjectsSize() {
				t.Errorf("after the update: %v, %v; want the objects still kept", got, err)
			}
		})
	}
}

// TestRecordWithoutObjects reads a record as a cutover that kept no
// objects wrote it: no objects ConfigMap, none of the new JSON fields.
func TestRecordWithoutObjects(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	old := `{"version":1,"app":"web","namespace":"` + ns + `","strategy":"blue-green","revision":1,` +
		`"fromColor":"green","toColor":"blue","images":["tomcat:7"],"outcome":"succeeded","started":"2025-05-01T10:00:00Z"}`
	_, err := cluster.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cutover-web-r1", Labels: map[string]string{
			"app.kubernetes.io/managed-by": "cutover", "cutover.dev/app": "web", "cutover.dev/revision": "1"}},
		Data: map[string]string{"record": old},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := release.NewStore(cluster.Client, ns)
	r, err := s.Get(ctx, "web", 1)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := s.Objects(ctx, r)
	if r.HasObjects() || objs != nil || err != nil || r.ObjectsOmitted != "" || r.SkippedSecrets != nil {
		t.Errorf("old record: has %v, objects %v, err %v, omitted %q, skipped %q", r.HasObjects(), objs, err, r.ObjectsOmitted, r.SkippedSecrets)
	}
	r.Outcome = release.OutcomeAborted
	if err := s.Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	cms, err := cluster.Client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range cms.Items {
		if cm.Name != "cutover-web-r1" && cm.Name != "kube-root-ca.crt" {
			t.Errorf("an update of an old record created configmap %s", cm.Name)
		}
	}
	if cm := getConfigMap(t, ns, "cutover-web-r1"); cm.BinaryData != nil || strings.Contains(cm.Data["record"], `"objects"`) {
		t.Errorf("an update gave an old record objects: binaryData %v, JSON %s", keys(cm.BinaryData), cm.Data["record"])
	}
}

// TestObjectsUnreadable: a record's objects ConfigMap deleted or replaced
// by hand is an error naming it, never someone else's objects.
func TestObjectsUnreadable(t *testing.T) {
	cases := []struct {
		name    string
		tamper  func(ctx context.Context, cms corev1client.ConfigMapInterface) error
		wantErr string
		// wantNotFound: the error satisfies apierrors.IsNotFound.
		wantNotFound bool
	}{
		{
			name:         "deleted",
			tamper:       func(ctx context.Context, cms corev1client.ConfigMapInterface) error { return deleteObjects(ctx, cms) },
			wantErr:      "record cutover-web-r1 keeps its objects in ConfigMap cutover-web-r1-objects, which is missing",
			wantNotFound: true,
		},
		{
			// An owner that exists: the garbage collector would delete a
			// ConfigMap whose owner is gone before the test could read it.
			name: "owned by another record",
			tamper: func(ctx context.Context, cms corev1client.ConfigMapInterface) error {
				if err := deleteObjects(ctx, cms); err != nil {
					return err
				}
				other, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cutover-web-r0"}}, metav1.CreateOptions{})
				if err != nil {
					return err
				}
				stale := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cutover-web-r1-objects", OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "v1", Kind: "ConfigMap", Name: other.Name, UID: other.UID}}},
					BinaryData: map[string][]byte{"objects.yaml.gz": {0x1f, 0x8b}}}
				_, err = cms.Create(ctx, stale, metav1.CreateOptions{})
				return err
			},
			wantErr: "configmap cutover-web-r1-objects holds the objects of another record",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns, ctx := cluster.Namespace(t), testCtx(t)
			s := release.NewStore(cluster.Client, ns)
			r := &release.Record{App: "web", Strategy: "blue-green", ToColor: "blue"}
			r.SetObjects(load(t, appObjects), nil)
			create(t, s, r)
			if err := tc.tamper(ctx, cluster.Client.CoreV1().ConfigMaps(ns)); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, "web", 1)
			if err != nil {
				t.Fatal(err)
			}
			if !got.HasObjects() {
				t.Fatal("the record no longer says it keeps objects")
			}
			objs, err := s.Objects(ctx, got)
			if objs != nil || err == nil || !strings.Contains(err.Error(), tc.wantErr) || apierrors.IsNotFound(err) != tc.wantNotFound {
				t.Errorf("Objects: %d objects, %v; want an error saying %q (not found: %v)", len(objs), err, tc.wantErr, tc.wantNotFound)
			}
		})
	}
}

func deleteObjects(ctx context.Context, cms corev1client.ConfigMapInterface) error {
	return cms.Delete(ctx, "cutover-web-r1-objects", metav1.DeleteOptions{})
}

// TestObjectsNotWrittenKeepTheRecord: when the objects ConfigMap cannot be
// created, the record is stored all the same, and the next write says why
// it keeps no objects.
func TestObjectsNotWrittenKeepTheRecord(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	// A ConfigMap in the way: the objects ConfigMap cannot be created.
	inTheWay, err := cluster.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cutover-web-r1-objects"}, Data: map[string]string{"mine": "yes"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	r := &release.Record{App: "web", Strategy: "blue-green", ToColor: "blue"}
	r.SetObjects(load(t, appObjects), nil)
	rec := release.NewRecorder(release.NewStore(cluster.Client, ns), r, slog.New(slog.NewTextHandler(&log, nil)))
	if err := rec.Start(ctx); err != nil {
		t.Fatalf("Start: %v; the record must be stored without its objects", err)
	}
	if lost := rec.ObjectsLost(); lost == nil || !strings.Contains(lost.Error(), "cutover-web-r1-objects") {
		t.Errorf("ObjectsLost = %v, want the ConfigMap in the way", lost)
	}
	if !strings.Contains(log.String(), "release objects not written") {
		t.Errorf("log %q: the lost objects are not logged", log.String())
	}
	if err := rec.Finish(release.OutcomeSucceeded, nil); err != nil {
		t.Fatal(err)
	}
	got, err := release.NewStore(cluster.Client, ns).Get(ctx, "web", 1)
	if err != nil {
		t.Fatal(err)
	}
	if got.HasObjects() || !strings.Contains(got.ObjectsOmitted, "could not be written to ConfigMap cutover-web-r1-objects") ||
		got.Outcome != release.OutcomeSucceeded || len(got.SkippedSecrets) != 2 {
		t.Errorf("stored: has objects %v, omitted %q, outcome %s, skipped %q", got.HasObjects(), got.ObjectsOmitted, got.Outcome, got.SkippedSecrets)
	}
	if cm := getConfigMap(t, ns, "cutover-web-r1-objects"); cm.ResourceVersion != inTheWay.ResourceVersion {
		t.Error("the ConfigMap in the way was changed")
	}
}

// TestCopyObjects: a rollback's record keeps the objects of the release it
// goes back to in its own objects ConfigMap, which outlives the source.
func TestCopyObjects(t *testing.T) {
	cases := []struct {
		name string
		// source stores the record to copy from, as revision 1.
		source      func(t *testing.T, ns string, s *release.Store)
		wantObjects bool
		wantErr     string // a fragment of CopyObjects' error
		wantOmitted string // a fragment of the copy's ObjectsOmitted
	}{
		{name: "kept", wantObjects: true, source: func(t *testing.T, _ string, s *release.Store) {
			r := &release.Record{App: "web", ToColor: "blue"}
			r.SetObjects(load(t, appObjects), nil)
			create(t, s, r)
		}},
		{name: "none kept, and why", wantOmitted: "every object is a Secret", source: func(t *testing.T, _ string, s *release.Store) {
			r := &release.Record{App: "web", ToColor: "blue"}
			r.SetObjects(load(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\n"), nil)
			create(t, s, r)
		}},
		{name: "written before objects were kept", source: func(t *testing.T, _ string, s *release.Store) {
			create(t, s, &release.Record{App: "web", ToColor: "blue"})
		}},
		{name: "objects deleted by hand", wantErr: "ConfigMap cutover-web-r1-objects, which is missing",
			wantOmitted: "the objects of revision 1 could not be read: record cutover-web-r1 keeps its objects in ConfigMap cutover-web-r1-objects, which is missing", source: func(t *testing.T, ns string, s *release.Store) {
				r := &release.Record{App: "web", ToColor: "blue"}
				r.SetObjects(load(t, appObjects), nil)
				create(t, s, r)
				if err := deleteObjects(context.Background(), cluster.Client.CoreV1().ConfigMaps(ns)); err != nil {
					t.Fatal(err)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns, ctx := cluster.Namespace(t), testCtx(t)
			s := release.NewStore(cluster.Client, ns)
			tc.source(t, ns, s)
			from, err := s.Get(ctx, "web", 1)
			if err != nil {
				t.Fatal(err)
			}
			r := &release.Record{App: "web", Strategy: "rollback", ToColor: "blue"}
			err = s.CopyObjects(ctx, r, from)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("CopyObjects: %v, want an error saying %q", err, tc.wantErr)
			}
			create(t, s, r)
			// Pruning the source must not take the copy's objects.
			if err := s.Prune(ctx, "web", 1); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, "web", 2)
			if err != nil {
				t.Fatal(err)
			}
			if got.HasObjects() != tc.wantObjects || !slices.Equal(got.SkippedSecrets, from.SkippedSecrets) ||
				(tc.wantOmitted == "") != (got.ObjectsOmitted == "") || !strings.Contains(got.ObjectsOmitted, tc.wantOmitted) {
				t.Errorf("copy: has objects %v, skipped %q, omitted %q; want %v, %q, %q", got.HasObjects(), got.SkippedSecrets, got.ObjectsOmitted,
					tc.wantObjects, from.SkippedSecrets, tc.wantOmitted)
			}
			objs, err := s.Objects(ctx, got)
			if err != nil || (len(objs) == 3) != tc.wantObjects {
				t.Errorf("the copy's objects: %d, %v", len(objs), err)
			}
			if tc.wantObjects {
				assertObjectsConfigMap(t, ns, getConfigMap(t, ns, "cutover-web-r2"), got.ObjectsSize())
			}
		})
	}
}

// TestObjectsGoWithTheirRecord: the garbage collector deletes an objects
// ConfigMap once its record is deleted, by hand or by a Prune that could
// not delete the objects itself.
func TestObjectsGoWithTheirRecord(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	s := release.NewStore(cluster.Client, ns)
	r := &release.Record{App: "web", ToColor: "blue"}
	r.SetObjects(load(t, appObjects), nil)
	create(t, s, r)
	cms := cluster.Client.CoreV1().ConfigMaps(ns)
	if err := cms.Delete(ctx, "cutover-web-r1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := cms.Get(ctx, "cutover-web-r1-objects", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("the objects ConfigMap outlived its record: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// randomConfigMap is a ConfigMap holding n random bytes in base64, which
// gzip shrinks back to about n bytes and no further.
func randomConfigMap(n int) string {
	b := make([]byte, n)
	rng := rand.NewChaCha8([32]byte{7})
	_, _ = rng.Read(b)
	return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata: {blob: " + base64.StdEncoding.EncodeToString(b) + "}\n"
}

func TestSetObjectsKeepsOrSaysWhyNot(t *testing.T) {
	cases := []struct {
		name    string
		yaml    string
		secrets []string
		// wantOmitted is a fragment of ObjectsOmitted; "" when kept.
		wantOmitted string
		wantSkipped []string
	}{
		{name: "kept", yaml: appObjects, wantSkipped: []string{"db", "api-token"}},
		{name: "a secret variable's value only in a Secret", yaml: appObjects, secrets: []string{"hunter2-not-kept"},
			wantSkipped: []string{"db", "api-token"}},
		{name: "a secret variable's value in a Deployment", yaml: appObjects, secrets: []string{"", "tomcat:7"},
			wantOmitted: "values of secret variables", wantSkipped: []string{"db", "api-token"}},
		{name: "a secret variable's value in a key", yaml: appObjects, secrets: []string{"greeting"},
			wantOmitted: "values of secret variables", wantSkipped: []string{"db", "api-token"}},
		{name: "only Secrets", yaml: "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\n",
			wantOmitted: "every object is a Secret", wantSkipped: []string{"db"}},
		{name: "too large", yaml: randomConfigMap(950 << 10), wantOmitted: "KiB gzipped, more than the 900 KiB"},
		{name: "a Secret of another group is not a Secret", yaml: "apiVersion: example.com/v1\nkind: Secret\nmetadata: {name: x}\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &release.Record{App: "web", ToColor: "blue"}
			r.SetObjects(load(t, tc.yaml), tc.secrets)
			if tc.wantOmitted == "" && (r.ObjectsOmitted != "" || !r.HasObjects()) {
				t.Errorf("not kept: %q", r.ObjectsOmitted)
			}
			if tc.wantOmitted != "" && (!strings.Contains(r.ObjectsOmitted, tc.wantOmitted) || r.HasObjects()) {
				t.Errorf("kept %v, omitted %q; want none kept, saying %q", r.HasObjects(), r.ObjectsOmitted, tc.wantOmitted)
			}
			if !slices.Equal(r.SkippedSecrets, tc.wantSkipped) {
				t.Errorf("skipped %q, want %q", r.SkippedSecrets, tc.wantSkipped)
			}
		})
	}
}

// TestObjectsNearTheLimitFitTheConfigMap stores objects just under the
// limit: the API server must take the record (a ConfigMap holds 1 MiB).
func TestObjectsNearTheLimitFitTheConfigMap(t *testing.T) {
	ns, ctx := cluster.Namespace(t), testCtx(t)
	r := &release.Record{App: "web", Strategy: "blue-green", ToColor: "blue", Images: []string{"tomcat:7"}}
	r.SetObjects(load(t, randomConfigMap(870<<10)), nil)
	if size := r.ObjectsSize(); size < release.MaxObjectsBytes-64<<10 || size > release.MaxObjectsBytes {
		t.Fatalf("the test's objects take %d bytes gzipped (omitted: %q), want just under %d", size, r.ObjectsOmitted, release.MaxObjectsBytes)
	}
	s := release.NewStore(cluster.Client, ns)
	create(t, s, r)
	got, err := s.Get(ctx, "web", r.Revision)
	if err != nil {
		t.Fatal(err)
	}
	if objs, err := s.Objects(ctx, got); err != nil || len(objs) != 1 {
		t.Errorf("read back %d objects, %v", len(objs), err)
	}
}

package release

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/cutover/cutover/internal/hint"
	"github.com/cutover/cutover/internal/manifest"
)

// objectsKey is the binaryData key, in a record's objects ConfigMap, that
// holds the release's rendered objects: a gzipped multi-document YAML
// stream, as `cutover render` prints it. That ConfigMap is not the
// record's: the record's is rewritten at every stage of a run, watched by
// approvals and listed by status and history, none of which should carry
// the objects.
const objectsKey = "objects.yaml.gz"

// MaxObjectsBytes bounds the gzipped objects a record keeps. A ConfigMap
// holds at most 1 MiB; past this the record keeps no objects and says why,
// rather than fail to write them.
const MaxObjectsBytes = 900 << 10

// Reasons why a record keeps no objects.
var (
	errSecretValues = fmt.Errorf("they hold values of %w, which a record must not keep", hint.New(hint.SecretVars, "secret variables"))
	errOnlySecrets  = errors.New("every object is a Secret, and Secrets are never kept")
)

// strippedMeta are metadata fields the API server owns: objects exported
// from a cluster (kubectl get -o yaml) may carry them, and a stale
// resourceVersion or uid would make the redeploy fail or hit the wrong
// object.
var strippedMeta = []string{"managedFields", "resourceVersion", "uid", "creationTimestamp"}

// SetObjects keeps objs, the objects a run renders for its target color
// (ToColor), so that `cutover rollback APP` can redeploy the release
// without its files. Store.Create writes them, once, into a ConfigMap of
// their own; Store.Update never writes them. Secrets (core group) are left
// out and named in SkippedSecrets: their values do not belong in a
// ConfigMap. Server-owned fields and status are stripped. When the objects
// cannot be kept (too large, or they hold one of secretValues), none are
// and ObjectsOmitted says why: a record is never a reason to stop a run.
func (r *Record) SetObjects(objs []manifest.Object, secretValues []string) {
	kept, skipped := withoutSecrets(objs)
	r.SkippedSecrets, r.ObjectsOmitted = skipped, ""
	blob, err := encodeObjects(kept, secretValues)
	if err != nil {
		r.ObjectsOmitted = err.Error()
	}
	r.keepBlob(blob)
}

// keepBlob makes blob the objects r keeps, in memory until Store.Create
// writes them; none when blob is empty.
func (r *Record) keepBlob(blob []byte) {
	r.objects, r.objectsSize, r.objectsCM = blob, len(blob), ""
	if len(blob) == 0 {
		r.objects = nil
	}
}

// HasObjects reports whether r keeps its release's objects. It needs no
// request: the record itself says so, and how large they are.
func (r *Record) HasObjects() bool { return r.objectsSize > 0 }

// ObjectsSize is the size of the kept objects, gzipped, in bytes.
func (r *Record) ObjectsSize() int { return r.objectsSize }

// Objects returns the objects r keeps: those rendered for r.ToColor, in
// the order they were rendered, Secrets left out. Their Source names the
// record. It reads them from r's objects ConfigMap, with a GET, the first
// time (r then holds them, for a later Objects or CopyObjects), and
// returns none when r keeps none (see ObjectsOmitted; a record written
// before records kept objects has neither). An objects ConfigMap that is
// missing (an error satisfying apierrors.IsNotFound) or not r's is an
// error.
func (s *Store) Objects(ctx context.Context, r *Record) ([]manifest.Object, error) {
	name := recordName(r.App, r.Revision)
	blob, err := s.objectsBlob(ctx, r)
	if err != nil || blob == nil {
		return nil, err
	}
	objs, err := decodeObjects(ctx, blob)
	if err != nil {
		return nil, fmt.Errorf("record %s: objects: %w", name, err)
	}
	for i := range objs {
		objs[i].Source.File = "objects of record " + name
	}
	return objs, nil
}

// CopyObjects makes r, a record not yet created, keep the objects that
// from keeps (or the same reason for keeping none): a rollback to from's
// release keeps what that release applied, in an objects ConfigMap of its
// own, which stays when from's record is pruned. It reads from's objects
// unless Objects did. An error says why r keeps none after all; r is
// complete either way, as a record is never a reason to stop a run.
func (s *Store) CopyObjects(ctx context.Context, r, from *Record) error {
	r.SkippedSecrets = append([]string(nil), from.SkippedSecrets...)
	r.ObjectsOmitted = from.ObjectsOmitted
	blob, err := s.objectsBlob(ctx, from)
	if err != nil {
		r.ObjectsOmitted = fmt.Sprintf("the objects of revision %d could not be read: %v", from.Revision, err)
	}
	r.keepBlob(blob)
	return err
}

// objectsBlob returns the gzipped objects r keeps: those in memory, or
// else read from r's objects ConfigMap and kept in r. It returns nil when
// r keeps none.
func (s *Store) objectsBlob(ctx context.Context, r *Record) ([]byte, error) {
	if len(r.objects) > 0 || !r.HasObjects() {
		return r.objects, nil
	}
	record := recordName(r.App, r.Revision)
	cm, err := s.cms.Get(ctx, r.objectsCM, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("record %s keeps its objects in ConfigMap %s, which is missing: %w", record, r.objectsCM, err)
	}
	if err != nil {
		return nil, fmt.Errorf("record %s: read objects: %w", record, err)
	}
	// The name alone does not tell: a record deleted by hand may leave
	// objects that a later record of the same name must not take as its own.
	if r.uid == "" || !ownedBy(cm, r.uid) {
		return nil, fmt.Errorf("record %s: configmap %s holds the objects of another record", record, cm.Name)
	}
	blob := cm.BinaryData[objectsKey]
	if len(blob) == 0 {
		return nil, fmt.Errorf("record %s: configmap %s holds no %q", record, cm.Name, objectsKey)
	}
	r.objects = blob
	return blob, nil
}

func ownedBy(cm *corev1.ConfigMap, uid types.UID) bool {
	return slices.ContainsFunc(cm.OwnerReferences, func(o metav1.OwnerReference) bool { return o.UID == uid })
}

// createObjects writes the objects of r, whose record was just created,
// into their own ConfigMap, once: immutable, and owned by the record's
// ConfigMap, so that the garbage collector deletes them with it. When they
// cannot be written, the record stays as it is, keeping no objects from
// the next Update on, whose ObjectsOmitted says why: a record is never a
// reason to stop a run.
func (s *Store) createObjects(ctx context.Context, r *Record) {
	if r.objectsCM == "" {
		return
	}
	if err := s.writeObjects(ctx, objectsConfigMap(r)); err != nil {
		r.omitObjects(err)
	}
}

// writeObjects creates an objects ConfigMap made by objectsConfigMap.
func (s *Store) writeObjects(ctx context.Context, cm *corev1.ConfigMap) error {
	if _, err := s.cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("they could not be written to ConfigMap %s: %w", cm.Name, err)
	}
	return nil
}

// omitObjects makes r keep no objects, for the reason err.
func (r *Record) omitObjects(err error) {
	r.ObjectsOmitted = err.Error()
	r.keepBlob(nil)
}

// objectsConfigMap is the objects ConfigMap of r, whose record is created.
func objectsConfigMap(r *Record) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:   r.objectsCM,
			Labels: objectsLabels(r.App, r.Revision),
			// Neither a controller nor blocking the record's deletion: the
			// objects only go with the record.
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "ConfigMap", Name: r.cm.Name, UID: r.cm.UID,
			}},
		},
		BinaryData: map[string][]byte{objectsKey: r.objects},
		Immutable:  ptr.To(true),
	}
}

// withoutSecrets splits objs into the objects to keep, stripped copies,
// and the names of the Secrets left out.
func withoutSecrets(objs []manifest.Object) ([]manifest.Object, []string) {
	var kept []manifest.Object
	var secrets []string
	for _, o := range objs {
		if o.GetKind() == "Secret" && o.GroupVersionKind().Group == "" {
			secrets = append(secrets, o.GetName())
			continue
		}
		c := manifest.Object{Unstructured: o.DeepCopy(), Source: o.Source}
		delete(c.Object, "status")
		if meta, ok := c.Object["metadata"].(map[string]any); ok {
			for _, f := range strippedMeta {
				delete(meta, f)
			}
		}
		kept = append(kept, c)
	}
	return kept, secrets
}

// encodeObjects writes objs as gzipped YAML, refusing what a record must
// not or cannot hold.
func encodeObjects(objs []manifest.Object, secretValues []string) ([]byte, error) {
	if len(objs) == 0 {
		return nil, errOnlySecrets
	}
	for _, o := range objs {
		if holdsAny(o.Object, secretValues) {
			return nil, errSecretValues
		}
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := (&manifest.Set{Objects: objs}).YAML(zw); err != nil {
		return nil, fmt.Errorf("encode objects: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("encode objects: %w", err)
	}
	if buf.Len() > MaxObjectsBytes {
		return nil, fmt.Errorf("they take %d KiB gzipped, more than the %d KiB a record keeps", (buf.Len()+1023)>>10, MaxObjectsBytes>>10)
	}
	return buf.Bytes(), nil
}

// holdsAny reports whether a key or string value anywhere in v contains
// one of the non-empty values.
func holdsAny(v any, values []string) bool {
	switch t := v.(type) {
	case string:
		for _, s := range values {
			if s != "" && strings.Contains(t, s) {
				return true
			}
		}
	case map[string]any:
		for k, e := range t {
			if holdsAny(k, values) || holdsAny(e, values) {
				return true
			}
		}
	case []any:
		for _, e := range t {
			if holdsAny(e, values) {
				return true
			}
		}
	}
	return false
}

// decodeObjects reads the gzipped YAML back with the manifest parser the
// files were read with, substituting nothing. Its size limit bounds what
// a corrupt blob may inflate to.
func decodeObjects(ctx context.Context, blob []byte) ([]manifest.Object, error) {
	zr, err := gzip.NewReader(bytes.NewReader(blob))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	set, err := manifest.Load(ctx, manifest.Options{Paths: []string{"-"}, Stdin: zr})
	if err != nil {
		return nil, err
	}
	return set.Objects, nil
}

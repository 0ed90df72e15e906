package release

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/util/retry"
)

const (
	defaultKeep = 10
	// createAttempts bounds how many revisions Create tries when others
	// take them first.
	createAttempts = 100
)

// Store reads and writes the release records of one namespace.
type Store struct {
	cms corev1client.ConfigMapInterface
	ns  string

	mu     sync.Mutex
	newest map[string]int // by app: the newest revision this Store has seen
}

// NewStore returns a Store for the records in namespace ns.
func NewStore(c kubernetes.Interface, ns string) *Store {
	return &Store{cms: c.CoreV1().ConfigMaps(ns), ns: ns}
}

// entry is a record's ConfigMap and the revision its label names.
type entry struct {
	revision int
	cm       *corev1.ConfigMap
}

// list returns the ConfigMaps of app's records, newest first.
func (s *Store) list(ctx context.Context, app string) ([]entry, error) {
	if err := validateApp(app); err != nil {
		return nil, err
	}
	list, err := s.cms.List(ctx, metav1.ListOptions{LabelSelector: appSelector(app)})
	if err != nil {
		return nil, fmt.Errorf("list records of app %s: %w", app, err)
	}
	entries := make([]entry, 0, len(list.Items))
	for i := range list.Items {
		cm := &list.Items[i]
		n, err := strconv.Atoi(cm.Labels[labelRevision])
		if err != nil {
			return nil, fmt.Errorf("configmap %s: label %s: %w", cm.Name, labelRevision, err)
		}
		entries = append(entries, entry{n, cm})
	}
	slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(b.revision, a.revision) })
	newest := 0
	if len(entries) > 0 {
		newest = entries[0].revision
	}
	s.saw(app, newest)
	return entries, nil
}

// saw notes that app's newest revision is at least revision.
func (s *Store) saw(app string, revision int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.newest == nil {
		s.newest = map[string]int{}
	}
	if n, ok := s.newest[app]; !ok || revision > n {
		s.newest[app] = revision
	}
}

// next returns the revision after the newest this Store has seen of app,
// if it has listed app's records.
func (s *Store) next(app string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.newest[app]
	return n + 1, ok
}

// Create stores r as the app's next revision and sets r.Revision. It sets
// r.Namespace to the Store's, r.Started to now if zero and r.Outcome to
// running if empty. Concurrent Creates for one app get distinct revisions.
// Right after the record, it writes the objects r keeps (see SetObjects)
// into a ConfigMap of their own; when that fails, the record is stored all
// the same and Create succeeds, r keeping no objects and ObjectsOmitted
// saying why (written by the next Update).
//
// The revision Create tries first follows the newest one this Store has
// listed (by Latest, say, under the app's lock), else the newest it lists
// now; a taken revision moves it on.
func (s *Store) Create(ctx context.Context, r *Record) error {
	if err := s.createRecord(ctx, r); err != nil {
		return err
	}
	s.createObjects(ctx, r) // the owner reference needs the record's UID
	return nil
}

// createRecord is Create without the objects: r names its objects
// ConfigMap, which the caller writes (createObjects).
func (s *Store) createRecord(ctx context.Context, r *Record) error {
	next, known := s.next(r.App)
	if !known {
		if _, err := s.list(ctx, r.App); err != nil {
			return fmt.Errorf("create record: %w", err)
		}
		next, _ = s.next(r.App)
	}
	r.Namespace = s.ns
	if r.Started.IsZero() {
		r.Started = time.Now().UTC()
	}
	if r.Outcome == "" {
		r.Outcome = OutcomeRunning
	}
	for range createAttempts {
		err := s.create(ctx, r, next)
		if err == nil {
			s.saw(r.App, next)
		}
		if !apierrors.IsAlreadyExists(err) {
			return err
		}
		next++ // another run took this revision
	}
	return fmt.Errorf("create record of app %s: no free revision after %d attempts", r.App, createAttempts)
}

// create stores r as revision, naming the ConfigMap of its objects if it
// keeps any.
func (s *Store) create(ctx context.Context, r *Record, revision int) error {
	name := recordName(r.App, revision)
	r.Revision, r.objectsCM = revision, ""
	if len(r.objects) > 0 { // only objects in memory are written
		r.objectsCM = objectsName(name)
	}
	r.objectsSize = len(r.objects)
	data, err := encodeRecord(r)
	if err != nil {
		return err
	}
	labels := appLabels(r.App)
	labels[labelRevision] = strconv.Itoa(revision)
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Data:       map[string]string{recordKey: data},
	}
	got, err := s.cms.Create(ctx, cm, metav1.CreateOptions{})
	if err != nil {
		r.Revision, r.objectsCM = 0, ""
		if apierrors.IsAlreadyExists(err) {
			return err
		}
		return fmt.Errorf("create record %s: %w", cm.Name, err)
	}
	r.setConfigMap(got)
	return nil
}

// Update writes r over its stored record. When the record changed since r
// was read or written (a conflict), Update reads it again and retries; of
// the stored record it takes only a decided approval (one written by
// Decide), which replaces r.Approval, so an approval is never lost. All
// other fields are the caller's. Update writes only the record: the kept
// objects are in their own ConfigMap, written once by Create, so that the
// writes of a run, and every watch event and list of records, stay small.
func (s *Store) Update(ctx context.Context, r *Record) error {
	if r.Namespace != "" && r.Namespace != s.ns {
		return fmt.Errorf("update record: record of namespace %s given to the store of %s", r.Namespace, s.ns)
	}
	r.Namespace = s.ns
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error { return s.update(ctx, r) })
	if err != nil {
		return fmt.Errorf("update record %s: %w", recordName(r.App, r.Revision), err)
	}
	return nil
}

func (s *Store) update(ctx context.Context, r *Record) error {
	if r.cm == nil {
		if err := s.reread(ctx, r); err != nil {
			return err
		}
	}
	data, err := encodeRecord(r)
	if err != nil {
		return err
	}
	cm := r.cm.DeepCopy()
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data[recordKey] = data
	got, err := s.cms.Update(ctx, cm, metav1.UpdateOptions{})
	if err != nil {
		if apierrors.IsConflict(err) {
			r.cm = nil
		}
		return err
	}
	r.setConfigMap(got)
	return nil
}

// reread fetches r's ConfigMap, taking a decided approval and an abort
// request from it: both are written by other processes.
func (s *Store) reread(ctx context.Context, r *Record) error {
	if err := validateApp(r.App); err != nil {
		return err
	}
	cm, err := s.cms.Get(ctx, recordName(r.App, r.Revision), metav1.GetOptions{})
	if err != nil {
		return err
	}
	stored, err := decodeRecord(cm)
	if err != nil {
		return err
	}
	if stored.Approval.decided() {
		r.Approval = stored.Approval
	}
	if stored.AbortRequest != nil {
		r.AbortRequest = stored.AbortRequest
	}
	r.setConfigMap(cm)
	return nil
}

// Get returns the record of app's revision. A missing one is an error
// satisfying apierrors.IsNotFound.
func (s *Store) Get(ctx context.Context, app string, revision int) (*Record, error) {
	if err := validateApp(app); err != nil {
		return nil, fmt.Errorf("get record: %w", err)
	}
	cm, err := s.cms.Get(ctx, recordName(app, revision), metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get record %s: %w", recordName(app, revision), err)
	}
	return decodeRecord(cm)
}

// List returns app's records, newest (highest revision) first.
func (s *Store) List(ctx context.Context, app string) ([]*Record, error) {
	entries, err := s.list(ctx, app)
	if err != nil {
		return nil, err
	}
	records := make([]*Record, 0, len(entries))
	for _, e := range entries {
		r, err := decodeRecord(e.cm)
		if err != nil {
			return nil, err
		}
		records = append(records, r)
	}
	return records, nil
}

// Latest returns app's newest record, or nil and no error when it has none.
func (s *Store) Latest(ctx context.Context, app string) (*Record, error) {
	entries, err := s.list(ctx, app)
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	return decodeRecord(entries[0].cm)
}

// Prune deletes all but app's newest keep records (10 when keep <= 0), as
// helm --history-max does. The newest record always stays, so revisions
// keep counting up.
func (s *Store) Prune(ctx context.Context, app string, keep int) error {
	if keep <= 0 {
		keep = defaultKeep
	}
	entries, err := s.list(ctx, app)
	if err != nil {
		return fmt.Errorf("prune records: %w", err)
	}
	var errs []error
	for _, e := range entries[min(keep, len(entries)):] {
		if err := s.delete(ctx, e.cm); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// delete deletes a record's ConfigMap, then its objects' ConfigMap, if any.
// The garbage collector would delete the objects too, since the record
// owns them, but only later, and not at all where it does not run. Deleting
// them by name is safe: a revision is never reused while a newer record
// exists, and Prune always keeps the newest.
func (s *Store) delete(ctx context.Context, cm *corev1.ConfigMap) error {
	pre := &metav1.Preconditions{UID: &cm.UID}
	err := s.cms.Delete(ctx, cm.Name, metav1.DeleteOptions{Preconditions: pre})
	if apierrors.IsNotFound(err) {
		return nil // another run pruned it, and its objects
	}
	if err != nil {
		return fmt.Errorf("delete record %s: %w", cm.Name, err)
	}
	err = s.cms.Delete(ctx, objectsName(cm.Name), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) { // records written before objects were kept have none
		return fmt.Errorf("delete objects of record %s: %w", cm.Name, err)
	}
	return nil
}

package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/client-go/util/retry"
)

// ErrNoPendingApproval is returned, wrapped with the app's name, by Decide
// when no record of the app waits for approval.
var ErrNoPendingApproval = errors.New("no release is waiting for approval")

// Decide approves or rejects the newest record of app whose approval is
// pending, as by (required), and returns that record as stored. With none
// pending it returns an error wrapping ErrNoPendingApproval; so it does
// when another Decide got there first.
//
// Decide rewrites only the record's "approval" field, keeping any field a
// newer cutover version added.
func (s *Store) Decide(ctx context.Context, app string, approve bool, by, comment string) (*Record, error) {
	if by == "" {
		return nil, errors.New("decide approval: who decides is required")
	}
	r, err := s.pending(ctx, app)
	if err != nil {
		return nil, fmt.Errorf("decide approval: %w", err)
	}
	a := &Approval{State: ApprovalRejected, By: by, At: time.Now().UTC(), Comment: comment}
	if approve {
		a.State = ApprovalApproved
	}
	app, revision := r.App, r.Revision
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if r.cm == nil { // lost a race: is it still pending?
			again, err := s.stillPending(ctx, app, revision)
			if err != nil {
				return err
			}
			r = again
		}
		return s.writeApproval(ctx, r, a)
	})
	if err != nil {
		return nil, fmt.Errorf("decide approval: %w", err)
	}
	return r, nil
}

// pending returns app's newest record with a pending approval.
func (s *Store) pending(ctx context.Context, app string) (*Record, error) {
	entries, err := s.list(ctx, app)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		r, err := decodeRecord(e.cm)
		if err != nil {
			return nil, err
		}
		if r.Approval != nil && r.Approval.State == ApprovalPending {
			return r, nil
		}
	}
	return nil, fmt.Errorf("app %s: %w", app, ErrNoPendingApproval)
}

// stillPending reads a record again after a conflict.
func (s *Store) stillPending(ctx context.Context, app string, revision int) (*Record, error) {
	r, err := s.Get(ctx, app, revision)
	if err != nil {
		return nil, err
	}
	if a := r.Approval; a.decided() {
		return nil, fmt.Errorf("app %s: revision %d was %s by %s meanwhile: %w", app, revision, a.State, a.By, ErrNoPendingApproval)
	}
	if a := r.Approval; a == nil || a.State != ApprovalPending {
		return nil, fmt.Errorf("app %s: revision %d stopped waiting: %w", app, revision, ErrNoPendingApproval)
	}
	return r, nil
}

// writeApproval replaces the approval in r's stored JSON.
func (s *Store) writeApproval(ctx context.Context, r *Record, a *Approval) error {
	if err := s.writeField(ctx, r, "approval", wireApprovalOf(a)); err != nil {
		return err
	}
	r.Approval = a
	return nil
}

// writeField replaces one field of r's stored JSON, leaving the other
// fields as they are, known to this version or not: another process (the
// run) owns them.
func (s *Store) writeField(ctx context.Context, r *Record, field string, value any) error {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.cm.Data[recordKey]), &doc); err != nil {
		return fmt.Errorf("configmap %s: decode record: %w", r.cm.Name, err)
	}
	raw, err := json.Marshal(value)
	if err != nil {
		return fmt.Errorf("encode %s: %w", field, err)
	}
	doc[field] = raw
	data, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode record: %w", err)
	}
	cm := r.cm.DeepCopy()
	cm.Data[recordKey] = string(data)
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

// WaitForDecision watches the record of app's revision until its approval
// is approved or rejected, and returns it. It returns at once if it already
// is. It fails when the record is missing or deleted, and with an error
// wrapping ctx's when ctx ends first. A record without an approval, or a
// pending one, is waited on.
func (s *Store) WaitForDecision(ctx context.Context, app string, revision int) (*Approval, error) {
	r, err := s.waitFor(ctx, app, revision, "approval", func(r *Record) bool { return r.Approval.decided() })
	if err != nil {
		return nil, err
	}
	return r.Approval, nil
}

// waitFor watches the record of app's revision until done holds for it,
// and returns it.
func (s *Store) waitFor(ctx context.Context, app string, revision int, what string, done func(*Record) bool) (*Record, error) {
	if err := validateApp(app); err != nil {
		return nil, fmt.Errorf("wait for %s: %w", what, err)
	}
	name := recordName(app, revision)
	var got *Record
	check := func(obj any) (bool, error) {
		cm, ok := obj.(*corev1.ConfigMap)
		if !ok {
			return false, nil
		}
		r, err := decodeRecord(cm)
		if err != nil {
			return false, err
		}
		got = r
		return done(r), nil
	}
	_, err := watchtools.UntilWithSync(ctx, s.watchOne(name), &corev1.ConfigMap{},
		func(store cache.Store) (bool, error) {
			obj, exists, err := store.GetByKey(s.ns + "/" + name)
			if err == nil && !exists {
				err = apierrors.NewNotFound(corev1.Resource("configmaps"), name)
			}
			if err != nil {
				return false, err
			}
			return check(obj)
		},
		func(e watch.Event) (bool, error) {
			if e.Type == watch.Deleted {
				return false, fmt.Errorf("record %s was deleted", name)
			}
			return check(e.Object)
		})
	if ctx.Err() != nil {
		return nil, fmt.Errorf("wait for %s of %s: %w", what, name, ctx.Err())
	}
	if err != nil {
		return nil, fmt.Errorf("wait for %s of %s: %w", what, name, err)
	}
	return got, nil
}

// watchOne lists and watches the one ConfigMap called name.
func (s *Store) watchOne(name string) *cache.ListWatch {
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return s.cms.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return s.cms.Watch(ctx, o)
		},
	}
}

package drift

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/kube"
)

// The Guard's marks on the objects it writes, and its field manager.
const (
	// ResyncAnnotation holds the time of the last resync of a Service.
	ResyncAnnotation = "cutover.dev/endpoints-resync"
	// PausedAnnotation marks a Deployment the Guard paused; a later run
	// resumes a Deployment that carries it (ResumeLeftPaused).
	PausedAnnotation = "cutover.dev/paused-by"
	pausedBy         = "endpoint-guard"
	FieldManager     = "cutover-endpoint-guard"
)

// Resync writes the time into an annotation of the Service. The write
// changes nothing that routes traffic, but the EndpointSlice controller
// queues a Service at once on every update event, outside the retry
// back-off that may hold it after errors, and recomputes its slices from
// the pods.
func Resync(ctx context.Context, c *kube.Clients, namespace, service string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		ResyncAnnotation: time.Now().UTC().Format(time.RFC3339Nano)}}})
	if err != nil {
		return err
	}
	_, err = c.Typed.CoreV1().Services(namespace).Patch(ctx, service, types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: FieldManager})
	if err != nil {
		return fmt.Errorf("resync service %s/%s: %w", namespace, service, err)
	}
	return nil
}

// holdPaused pauses the Deployments in want that the Guard does not hold
// yet, and resumes those it holds that are no longer wanted.
func (g *Guard) holdPaused(ctx context.Context, want map[string]bool) {
	for name := range want {
		if g.isPaused(name) {
			continue
		}
		took, err := pause(ctx, g.opts.Clients, g.ns, name)
		if took || err != nil {
			// A write that failed may still have landed: the Guard
			// resumes it all the same (resume reads the mark first).
			g.setPaused(name, true)
		}
		switch {
		case err != nil && ctx.Err() != nil:
			return // the Guard is stopping; Stop resumes
		case err != nil:
			g.note(name, ActionFailed, "could not pause it: "+err.Error())
		case took:
			g.note(name, ActionPaused, "paused: a Service's endpoints do not follow its pods; no further pod is taken away until they agree")
		}
	}
	for _, name := range g.held() {
		if want[name] {
			continue
		}
		did, err := resume(ctx, g.opts.Clients, g.ns, name)
		if err != nil {
			if ctx.Err() != nil {
				return // the Guard is stopping: Stop resumes it
			}
			g.note(name, ActionFailed, "could not resume it: "+err.Error())
			continue
		}
		g.setPaused(name, false)
		if did {
			g.note(name, ActionResumed, "resumed: its Services' endpoints agree with their pods")
		}
	}
}

// resumeAll resumes every Deployment the Guard still holds.
func (g *Guard) resumeAll(ctx context.Context) error {
	var errs []error
	for _, name := range g.held() {
		did, err := resume(ctx, g.opts.Clients, g.ns, name)
		if err != nil {
			errs = append(errs, err)
			g.note(name, ActionFailed, "could not resume it: "+err.Error())
			continue
		}
		g.setPaused(name, false)
		if did {
			g.note(name, ActionResumed, "resumed")
		}
	}
	return errors.Join(errs...)
}

func (g *Guard) isPaused(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.paused[name]
}

func (g *Guard) setPaused(name string, on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !on {
		delete(g.paused, name)
		return
	}
	g.paused[name] = true
	for i := range g.episodes {
		if g.episodes[i].Ended.IsZero() {
			g.episodes[i].Paused = append(g.episodes[i].Paused, name)
		}
	}
}

func (g *Guard) held() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]string, 0, len(g.paused))
	for name := range g.paused {
		out = append(out, name)
	}
	return out
}

func (g *Guard) note(deployment, action, msg string) {
	event.Stamp(g.opts.Sink, event.Event{Type: event.Warning, Object: "Deployment/" + g.ns + "/" + deployment,
		Status: Status, Action: action, Message: msg})
}

// pause sets spec.paused on a Deployment that is not paused, with the
// Guard's mark; it reports whether it did. A Deployment someone else
// paused is left alone, and never resumed by the Guard: the write carries
// the resourceVersion read, so that a pause by someone else in between is
// seen on the retry, not overwritten with the Guard's mark.
func pause(ctx context.Context, c *kube.Clients, namespace, name string) (bool, error) {
	took := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		took = false
		d, err := c.Typed.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Spec.Paused {
			return nil
		}
		took = true
		return patchPaused(ctx, c, namespace, name, d.ResourceVersion, true)
	})
	if err != nil {
		return took, fmt.Errorf("pause deployment %s/%s: %w", namespace, name, err)
	}
	return took, nil
}

// resume clears spec.paused on a Deployment the Guard paused, and reports
// whether it had the Guard's mark.
func resume(ctx context.Context, c *kube.Clients, namespace, name string) (bool, error) {
	d, err := c.Typed.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("resume deployment %s/%s: %w", namespace, name, err)
	}
	if d.Annotations[PausedAnnotation] != pausedBy {
		return false, nil
	}
	return true, patchPaused(ctx, c, namespace, name, "", false)
}

// ResumeLeftPaused resumes a Deployment, given its live annotations, that
// a Guard paused and never resumed (its run was killed), and reports
// whether it did.
func ResumeLeftPaused(ctx context.Context, c *kube.Clients, namespace, name string, annotations map[string]string) (bool, error) {
	if annotations[PausedAnnotation] != pausedBy {
		return false, nil
	}
	return true, patchPaused(ctx, c, namespace, name, "", false)
}

// patchPaused pauses or resumes a Deployment, at resourceVersion when set
// (a conflict then fails the write). A resume has no precondition: it must
// not fail on the Deployment controller's status writes.
func patchPaused(ctx context.Context, c *kube.Clients, namespace, name, resourceVersion string, on bool) error {
	var paused, mark any // null removes the field
	if on {
		paused, mark = true, pausedBy
	}
	meta := map[string]any{"annotations": map[string]any{PausedAnnotation: mark}}
	if resourceVersion != "" {
		meta["resourceVersion"] = resourceVersion
	}
	patch, err := json.Marshal(map[string]any{"metadata": meta, "spec": map[string]any{"paused": paused}})
	if err != nil {
		return err
	}
	_, err = c.Typed.AppsV1().Deployments(namespace).Patch(ctx, name, types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: FieldManager})
	if err != nil && !on {
		return fmt.Errorf("resume deployment %s/%s: %w", namespace, name, err)
	}
	return err // pause wraps it, after its retries on conflict
}

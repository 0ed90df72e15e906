package strategy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/cutover/cutover/internal/manifest"
	"github.com/cutover/cutover/internal/readiness"
)

// Staged is a release stopped before Confirm (BlueGreenOptions.UntilConfirm):
// its target color deployed and verified, production untouched. Promote
// continues it once it has checked that this is still so.
type Staged struct {
	Target string
	// Templates hashes each of the target color's Deployments' pod
	// templates, by Deployment name, as Verify Staged left them.
	Templates map[string]string
}

// staged reads what Promote will check: the pod templates of the target
// color's Deployments, as the cluster holds them after Verify Staged.
func (b *BlueGreen) staged(ctx context.Context, e env, d deployed) (Staged, error) {
	s := Staged{Target: e.target, Templates: map[string]string{}}
	for _, it := range d.items {
		if it.Kind() != "Deployment" || it.Object.GroupVersionKind().Group != "apps" {
			continue
		}
		dep, err := b.c.Typed.AppsV1().Deployments(b.c.Namespace).Get(ctx, it.Object.GetName(), metav1.GetOptions{})
		if err != nil {
			return Staged{}, fmt.Errorf("read staged deployment %s: %w", it.Object.GetName(), err)
		}
		h, err := templateHash(dep.Spec.Template)
		if err != nil {
			return Staged{}, err
		}
		s.Templates[dep.Name] = h
	}
	return s, nil
}

func templateHash(t corev1.PodTemplateSpec) (string, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("hash pod template: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8]), nil
}

// Promote continues a release stopped before Confirm: it checks that
// production still selects the color it selected then and that the staged
// color is as Verify Staged left it (the same pod templates, every pod
// ready), then runs BeforeWrite, Switch, Verify Prod and Post, switching
// back if Verify Prod fails. A refusal wraps ErrRefused: production is
// untouched.
func (b *BlueGreen) Promote(ctx context.Context, s Staged) error {
	var e env
	var d deployed
	err := b.stage(StageCheckEnv, func() (err error) {
		if e, err = b.checkEnv(ctx); err != nil {
			return err
		}
		if e.target != s.Target || e.resumed {
			return fmt.Errorf("production service %s selects %q now: %s is not the idle color the release was staged on",
				b.opts.Service, e.active, s.Target)
		}
		if d.prod, err = b.prodObject(ctx, e); err != nil {
			return err
		}
		return b.unchanged(ctx, s)
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if hook := b.opts.BeforeWrite; hook != nil {
		if err := hook(ctx); err != nil {
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
	}
	return b.switchAndVerify(ctx, e, d)
}

// prodObject is the production Service of the files, which a first deploy
// creates at Switch; nil when production exists.
func (b *BlueGreen) prodObject(ctx context.Context, e env) (*manifest.Object, error) {
	if e.prod != nil {
		return nil, nil
	}
	objs, err := b.opts.Render(ctx, e.target)
	if err != nil {
		return nil, err
	}
	for i, o := range objs {
		if b.isProd(o) {
			return &objs[i], nil
		}
	}
	return nil, fmt.Errorf("no production service %q in the cluster or in the release's objects", b.opts.Service)
}

// unchanged checks that each staged Deployment has the pod template it had
// and as many ready pods as it asks for, none of them terminating.
func (b *BlueGreen) unchanged(ctx context.Context, s Staged) error {
	for _, name := range slices.Sorted(maps.Keys(s.Templates)) {
		dep, err := b.c.Typed.AppsV1().Deployments(b.c.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("read staged deployment %s: %w", name, err)
		}
		h, err := templateHash(dep.Spec.Template)
		if err != nil {
			return err
		}
		if h != s.Templates[name] {
			return fmt.Errorf("deployment %s changed since Verify Staged: its pod template is not the one verified", name)
		}
		if err := b.allReady(ctx, name, dep.Spec.Selector, ptr.Deref(dep.Spec.Replicas, 1)); err != nil {
			return err
		}
	}
	return nil
}

// allReady checks that want pods match selector, all ready, none leaving.
func (b *BlueGreen) allReady(ctx context.Context, name string, selector *metav1.LabelSelector, want int32) error {
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return fmt.Errorf("deployment %s: %w", name, err)
	}
	pods, err := b.c.Typed.CoreV1().Pods(b.c.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return fmt.Errorf("list pods of deployment %s: %w", name, err)
	}
	var ready int32
	var unfit []string
	for i := range pods.Items {
		switch p := &pods.Items[i]; {
		case p.DeletionTimestamp != nil:
			unfit = append(unfit, p.Name+" (leaving)")
		case !readiness.PodReady(p):
			unfit = append(unfit, p.Name+" (not ready)")
		default:
			ready++
		}
	}
	if len(unfit) > 0 {
		slices.Sort(unfit)
		return fmt.Errorf("deployment %s changed since Verify Staged: pods %s", name, strings.Join(unfit, ", "))
	}
	if ready != want {
		return fmt.Errorf("deployment %s changed since Verify Staged: %d ready pods, want %d", name, ready, want)
	}
	return nil
}

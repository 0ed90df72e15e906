package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/manifest"
	"github.com/cutover/cutover/internal/strategy"
)

// blueGreenFlags configure --strategy blue-green (template mode).
type blueGreenFlags struct {
	service        string
	selectorKey    string
	roleVar        string
	colors         []string
	app            string
	idlePolicy     string
	scaleDownDelay time.Duration
	managed        bool
}

func (f *blueGreenFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.service, "service", "", "blue-green: the production Service; its selector names the active color")
	fs.StringVar(&f.selectorKey, "selector-key", "role", "blue-green: the production Service's selector key that holds the color")
	fs.StringVar(&f.roleVar, "role-var", "TARGET_ROLE", "blue-green: the variable in the files that takes the target color")
	fs.StringSliceVar(&f.colors, "colors", []string{"blue", "green"}, "blue-green: the two colors; the first is used on a first deploy")
	fs.StringVar(&f.app, "app", "", "the app's name in its lock and release records (status, history, rollback, approve): default --service for blue-green, the first workload's name for rolling")
	fs.StringVar(&f.idlePolicy, "idle-policy", strategy.IdleKeep, "blue-green: after the switch, keep the old color (hot backup), scale-down, or update it to the new release")
	fs.BoolVar(&f.managed, "managed", false, "blue-green managed mode: the files hold a plain Deployment NAME and the --service; cutover applies NAME-<color> copies with <selector-key>=<color> added to their selector, a test Service <service>-test-<color>, and owns the production selector (a plain production Service is adopted)")
	fs.DurationVar(&f.scaleDownDelay, "scale-down-delay", 30*time.Second, "blue-green: wait before scaling the old color down; canary: before scaling the canary away after promotion; for connections and endpoint changes to settle")
}

func (f *blueGreenFlags) validate() error {
	switch {
	case f.service == "":
		return usageError{fmt.Errorf("--strategy blue-green needs --service (the production Service)")}
	case len(f.colors) != 2 || f.colors[0] == f.colors[1] || f.colors[0] == "" || f.colors[1] == "":
		return usageError{fmt.Errorf("--colors %q: want two different colors, e.g. blue,green", strings.Join(f.colors, ","))}
	}
	switch f.idlePolicy {
	case strategy.IdleKeep, strategy.IdleScaleDown, strategy.IdleUpdate:
		return nil
	}
	return usageError{fmt.Errorf("--idle-policy %q: want keep, scale-down or update", f.idlePolicy)}
}

// renderFunc renders the files for one color.
type renderFunc = engine.RenderFunc

// prerendered renders the files for every color at once, in the
// background, while the run's first requests are in flight: the first
// call for a color takes that rendering, later calls render again (the
// callers may change the objects they are given).
func prerendered(ctx context.Context, render renderFunc, colors []string) renderFunc {
	type rendered struct {
		objs []manifest.Object
		err  error
	}
	ready := map[string]chan rendered{}
	for _, c := range colors {
		ch := make(chan rendered, 1)
		ready[c] = ch
		go func() {
			objs, err := render(ctx, c)
			ch <- rendered{objs, err}
		}()
	}
	var mu sync.Mutex
	return func(ctx context.Context, color string) ([]manifest.Object, error) {
		mu.Lock()
		ch := ready[color]
		delete(ready, color)
		mu.Unlock()
		if ch == nil {
			return render(ctx, color)
		}
		got := <-ch
		return got.objs, got.err
	}
}

// holderID names this run in the app's lock: host and pid (which lets a
// rerun on the same host take over from a killed run at once), plus the CI
// job when there is one.
func holderID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	id := fmt.Sprintf("%s/pid %d", host, os.Getpid())
	if tag := ciJob(); tag != "" {
		id += " (" + tag + ")"
	}
	return id
}

func ciJob() string {
	switch {
	case os.Getenv("BUILD_TAG") != "":
		return os.Getenv("BUILD_TAG") // Jenkins: jenkins-JOB-NUMBER
	case os.Getenv("GITHUB_RUN_ID") != "":
		return "github run " + os.Getenv("GITHUB_RUN_ID")
	case os.Getenv("CI_JOB_ID") != "":
		return "gitlab job " + os.Getenv("CI_JOB_ID")
	}
	return ""
}

func (f *blueGreenFlags) appName() string {
	if f.app != "" {
		return f.app
	}
	return f.service
}

// appName names the release's app in its lock and records: --app (or the
// config file's app); for blue/green, else --service; for a rolling
// update, else its first workload's name.
func (o *deployOptions) appName(blueGreen bool, objs []manifest.Object) string {
	if blueGreen || o.bg.app != "" {
		return o.bg.appName()
	}
	return engine.DefaultApp(objs)
}

package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/cutover/cutover/internal/apply"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/manifest"
	"github.com/cutover/cutover/internal/strategy"
	"github.com/cutover/cutover/internal/verify"
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
}

func (f *blueGreenFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.service, "service", "", "blue-green: the production Service; its selector names the active color")
	fs.StringVar(&f.selectorKey, "selector-key", "role", "blue-green: the production Service's selector key that holds the color")
	fs.StringVar(&f.roleVar, "role-var", "TARGET_ROLE", "blue-green: the variable in the files that takes the target color")
	fs.StringSliceVar(&f.colors, "colors", []string{"blue", "green"}, "blue-green: the two colors; the first is used on a first deploy")
	fs.StringVar(&f.app, "app", "", "blue-green: the app's name in records, locks and approvals (default: --service)")
	fs.StringVar(&f.idlePolicy, "idle-policy", strategy.IdleKeep, "blue-green: after the switch, keep the old color (hot backup), scale-down, or update it to the new release")
	fs.DurationVar(&f.scaleDownDelay, "scale-down-delay", 30*time.Second, "blue-green: wait before scaling the old color down, for connections and endpoint changes to settle")
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

// runBlueGreen deploys with the blue/green strategy.
func (o *deployOptions) runBlueGreen(ctx context.Context, clients *kube.Clients, sink event.Sink, checks []verify.Spec,
	render func(context.Context, string) ([]manifest.Object, error)) error {
	bg := strategy.NewBlueGreen(clients, strategy.BlueGreenOptions{
		Service:        o.bg.service,
		SelectorKey:    o.bg.selectorKey,
		Colors:         [2]string{o.bg.colors[0], o.bg.colors[1]},
		Render:         render,
		Checks:         func(_, color string) []verify.Spec { return forColor(checks, color) },
		IdlePolicy:     o.bg.idlePolicy,
		ScaleDownDelay: o.bg.scaleDownDelay,
		Apply:          apply.Options{Force: o.force},
		Sink:           sink,
	})
	return bg.Run(ctx)
}

// forColor fills {color} in the checks' URLs.
func forColor(checks []verify.Spec, color string) []verify.Spec {
	out := make([]verify.Spec, 0, len(checks))
	for _, s := range checks {
		if h, ok := s.Check.(*verify.HTTP); ok {
			c := *h
			c.URL = strings.ReplaceAll(c.URL, "{color}", color)
			s.Check = &c
		}
		out = append(out, s)
	}
	return out
}

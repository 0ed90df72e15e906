package main

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/cutover/cutover/internal/config"
	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/strategy"
)

// canaryFlags configure --strategy canary.
type canaryFlags struct {
	steps  string              // --steps, compact
	config []config.CanaryStep // the config file's, under --steps
	parsed []config.CanaryStep // what runs: set by validate
	route  string              // --route
	header string              // --canary-header NAME=VALUE
	hdr    *config.HeaderRoute // what runs: set by validate
	// analysis is the config file's canary.analysis: a check run in the
	// background (checks come only from the config file).
	analysis   string
	abortDelay time.Duration // --abort-scale-down-delay
	// --stable-service and --canary-service: explicit mode
	stableService, canaryService string
	dynamicStable                bool          // --dynamic-stable-scale
	proxySync                    time.Duration // --proxy-sync-delay
}

func (f *canaryFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.route, "route", "", "canary: gateway mode: an HTTPRoute of the files that sends to the app's Service S; cutover derives S-stable and S-canary and sets the route's weights at each step, confirmed by its status (exact shares); without it, the split is by pod counts, an approximation")
	fs.StringVar(&f.header, "canary-header", "", "canary, with --route: NAME=VALUE; requests carrying that header (exact value) reach the canary from the start until promotion or abort, whatever the weights, so testers see it before any user")
	fs.StringVar(&f.stableService, "stable-service", "", "canary, with --route and --canary-service: the Service of the files the route sends stable's share to (explicit mode); cutover adds cutover.dev/track=stable to its selector. Without them cutover derives S-stable and S-canary")
	fs.StringVar(&f.canaryService, "canary-service", "", "canary, with --route and --stable-service: the Service of the files the route sends the canary's share to; cutover adds cutover.dev/track=canary to its selector")
	fs.DurationVar(&f.abortDelay, "abort-scale-down-delay", strategy.DefaultAbortScaleDownDelay, "canary, with --route: after an abort's route write is confirmed, how long the canary keeps its pods, for gateways that run the route a moment after they accept it; 0 scales it down at once")
	fs.BoolVar(&f.dynamicStable, "dynamic-stable-scale", false, "canary, without --route: stable gives up as many pods as the canary runs, so the two keep about stable's count (fewer pods than stable beside the canary); each side grows before the other shrinks, and an abort brings stable back to full before the canary goes, so it takes as long as stable's pods take to start")
	fs.DurationVar(&f.proxySync, "proxy-sync-delay", strategy.DefaultProxySyncDelay, "canary, without --route: after each weight change shows in the EndpointSlices, how long to wait for every node's kube-proxy to apply it (its default minimum sync period is 1s) before the next step, so an analysis measures traffic at the new weight; 0 for none (a data plane that follows at once)")
	fs.StringVar(&f.steps, "steps", "", "canary: the steps, comma-separated: a weight in percent (10), pause=DURATION, pause (until `cutover promote APP`), analysis=CHECK (a config file check's name); default "+config.DefaultCanarySteps)
}

func (f *canaryFlags) applyConfig(c config.Canary, bg *blueGreenFlags, set func(string) bool) {
	f.config, f.analysis = c.Steps, c.Analysis
	config.Use(&f.abortDelay, c.AbortScaleDownDelay, set("abort-scale-down-delay"))
	config.Use(&f.dynamicStable, c.DynamicStableScale, set("dynamic-stable-scale"))
	config.Use(&f.proxySync, c.ProxySyncDelay, set("proxy-sync-delay"))
	config.Use(&bg.scaleDownDelay, c.ScaleDownDelay, set("scale-down-delay"))
	if !set("route") && c.HTTPRoute != "" {
		f.route = c.HTTPRoute
	}
	if !set("canary-header") {
		f.hdr = c.HeaderRoute
	}
	if !set("stable-service") && !set("canary-service") {
		f.stableService, f.canaryService = c.StableService, c.CanaryService
	}
}

// validate reads the steps: --steps, else the config file's, else the
// default ones.
func (f *canaryFlags) validate() error {
	if f.header != "" {
		name, value, ok := strings.Cut(f.header, "=")
		if !ok || name == "" || value == "" {
			return usageError{fmt.Errorf("--canary-header %q: want NAME=VALUE, such as X-Canary=always", f.header)}
		}
		f.hdr = &config.HeaderRoute{Name: name, Value: value}
	}
	if f.hdr != nil && f.route == "" {
		return usageError{errors.New("--canary-header: needs --route (a header route is a rule of the gateway's route)")}
	}
	if f.dynamicStable && f.route != "" {
		return usageError{errors.New("--dynamic-stable-scale: only without --route (through a gateway the weights split the traffic, and stable keeps its pods for an abort)")}
	}
	if err := f.validateServices(); err != nil {
		return err
	}
	f.parsed = f.config
	text := f.steps
	if text == "" && len(f.parsed) == 0 {
		text = config.DefaultCanarySteps
	}
	if text == "" {
		return nil
	}
	steps, err := config.ParseSteps(text)
	if err != nil {
		return usageError{fmt.Errorf("--steps: %w", err)}
	}
	f.parsed = steps
	return nil
}

// validateServices checks explicit mode's flags: both or neither, with
// --route, two different Services.
func (f *canaryFlags) validateServices() error {
	stable, canary := f.stableService, f.canaryService
	switch {
	case stable == "" && canary == "":
		return nil
	case stable == "" || canary == "":
		return usageError{errors.New("--stable-service and --canary-service: name both Services, or neither (cutover derives them)")}
	case f.route == "":
		return usageError{errors.New("--stable-service and --canary-service: need --route (the route splits between them)")}
	case stable == canary:
		return usageError{fmt.Errorf("--stable-service and --canary-service: want two Services, got %q for both", stable)}
	}
	return nil
}

// settings are the engine's canary settings; the approval flags'
// notifications tell people when it waits for them.
func (f *canaryFlags) settings(bg *blueGreenFlags, a *approvalFlags) engine.CanarySettings {
	return engine.CanarySettings{Steps: engine.ConfigSteps(f.parsed), ScaleDownDelay: bg.scaleDownDelay, Commands: promoteCommands,
		Notifiers: a.notifiers(), RunURL: ciRunURL(), DashboardURL: a.dashboard, Route: f.route, Header: engine.ConfigHeader(f.hdr), Analysis: f.analysis, Services: engine.ExplicitServices(f.stableService, f.canaryService),
		AbortScaleDownDelay: cmp.Or(f.abortDelay, -1), // the flag's 0 is none
		DynamicStableScale:  f.dynamicStable,
		ProxySyncDelay:      cmp.Or(f.proxySync, -1)} // the flag's 0 is none
}

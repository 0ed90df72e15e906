package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Canary configures the canary strategy: its steps, in order.
type Canary struct {
	Steps          []CanaryStep   `json:"steps,omitempty"`
	ScaleDownDelay *time.Duration `json:"scaleDownDelay,omitempty"`
	// AbortScaleDownDelay, in gateway mode, is how long an aborted canary
	// keeps its pods once the route's write is confirmed.
	AbortScaleDownDelay *time.Duration `json:"abortScaleDownDelay,omitempty"`
	// DynamicStableScale, in replica mode, scales stable down by the
	// canary's pods (see strategy.CanaryOptions.DynamicStableScale).
	DynamicStableScale *bool `json:"dynamicStableScale,omitempty"`
	// ProxySyncDelay, in replica mode, is how long each weight change
	// waits for the nodes' kube-proxies once the EndpointSlices confirm it.
	ProxySyncDelay *time.Duration `json:"proxySyncDelay,omitempty"`
	// HTTPRoute names a Gateway API HTTPRoute of the files: its weights
	// split the traffic (gateway mode), instead of the pods' counts.
	HTTPRoute string `json:"httpRoute,omitempty"`
	// HeaderRoute, with HTTPRoute, sends requests that carry this header
	// to the canary from the start, whatever the weights.
	HeaderRoute *HeaderRoute `json:"headerRoute,omitempty"`
	// StableService and CanaryService, with HTTPRoute, name the two
	// Services of the files that the route splits between (explicit
	// mode); without them cutover derives S-stable and S-canary.
	StableService string `json:"stableService,omitempty"`
	CanaryService string `json:"canaryService,omitempty"`
	// Analysis names an analysis check (checks[].name) that runs in the
	// background from the first step that gives the canary traffic until
	// promotion: a failed metric aborts at once, mid-step; one that cannot
	// judge waits for a person. Its metrics measure until promotion, so
	// they set no count.
	Analysis string `json:"analysis,omitempty"`
}

// HeaderRoute is an exact header match.
type HeaderRoute struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// CanaryStep is one step: exactly one of SetWeight, Pause and Analysis.
type CanaryStep struct {
	// SetWeight is the canary's share of traffic, 0 to 100.
	SetWeight *int `json:"setWeight,omitempty"`
	// Pause waits for its duration, or, without one, until cutover
	// promote APP.
	Pause *Pause `json:"pause,omitempty"`
	// Analysis names a check (checks[].name) to run at this step.
	Analysis string `json:"analysis,omitempty"`
}

// Pause is a pause step.
type Pause struct {
	Duration *time.Duration `json:"duration,omitempty"`
}

// DefaultCanarySteps are the steps of --strategy canary with none given:
// a tenth of the traffic, then half, each for a minute.
const DefaultCanarySteps = "10,pause=1m,50,pause=1m"

// ParseSteps reads the compact form of steps, as --steps takes it: items
// separated by commas, each a weight (10 or 10%), "pause" (until
// promoted), "pause=DURATION" or "analysis=CHECK".
func ParseSteps(s string) ([]CanaryStep, error) {
	var out []CanaryStep
	for i, item := range strings.Split(s, ",") {
		step, err := parseStep(strings.TrimSpace(item))
		if err != nil {
			return nil, fmt.Errorf("step %d (%q): %w", i+1, item, err)
		}
		out = append(out, step)
	}
	return out, nil
}

func parseStep(item string) (CanaryStep, error) {
	key, value, hasValue := strings.Cut(item, "=")
	switch key {
	case "pause":
		if !hasValue {
			return CanaryStep{Pause: &Pause{}}, nil
		}
		d, err := time.ParseDuration(value)
		if err != nil || d <= 0 {
			return CanaryStep{}, fmt.Errorf("want a duration above zero, such as pause=30s")
		}
		return CanaryStep{Pause: &Pause{Duration: &d}}, nil
	case "analysis":
		if value == "" {
			return CanaryStep{}, fmt.Errorf("want the name of a check, such as analysis=error-rate")
		}
		return CanaryStep{Analysis: value}, nil
	}
	w, err := strconv.Atoi(strings.TrimSuffix(item, "%"))
	if err != nil {
		return CanaryStep{}, fmt.Errorf("want a weight (0 to 100), pause, pause=DURATION or analysis=CHECK")
	}
	if w < 0 || w > 100 {
		return CanaryStep{}, fmt.Errorf("weight %d is out of 0 to 100", w)
	}
	return CanaryStep{SetWeight: &w}, nil
}

// canary validates the canary section; checks are the config's checks,
// which analysis steps name.
func (v *validator) canary(path string, c *Canary, checks []Check) {
	names := map[string]*Check{}
	for i, ch := range checks {
		if ch.Name != "" {
			names[ch.Name] = &checks[i]
		}
	}
	for i, s := range c.Steps {
		p := index(field(path, "steps"), i)
		if n := count(s.SetWeight != nil, s.Pause != nil, s.Analysis != ""); n != 1 {
			v.failf(p, "want exactly one of setWeight, pause and analysis, got %d", n)
			continue
		}
		switch {
		case s.SetWeight != nil && (*s.SetWeight < 0 || *s.SetWeight > 100):
			v.failf(field(p, "setWeight"), "want a weight from 0 to 100, got %d", *s.SetWeight)
		case s.Pause != nil:
			v.positive(field(p, "pause.duration"), s.Pause.Duration)
		case s.Analysis != "" && names[s.Analysis] == nil:
			v.failf(field(p, "analysis"), "no check is named %q (checks[].name)", s.Analysis)
		}
	}
	v.positive(field(path, "scaleDownDelay"), c.ScaleDownDelay)
	if d := c.AbortScaleDownDelay; d != nil && *d < 0 {
		v.failf(field(path, "abortScaleDownDelay"), "want a duration of 0 or more, got %s", *d)
	}
	if d := c.ProxySyncDelay; d != nil && *d < 0 {
		v.failf(field(path, "proxySyncDelay"), "want a duration of 0 or more, got %s", *d)
	}
	if c.DynamicStableScale != nil && *c.DynamicStableScale && c.HTTPRoute != "" {
		v.failf(field(path, "dynamicStableScale"), "only without httpRoute: through a gateway the weights split the traffic, and stable keeps its pods for an abort")
	}
	if c.Analysis != "" {
		v.backgroundAnalysis(field(path, "analysis"), c.Analysis, names[c.Analysis])
	}
	v.explicitServices(path, c)
	if h := c.HeaderRoute; h != nil {
		if c.HTTPRoute == "" {
			v.failf(field(path, "headerRoute"), "needs httpRoute: a header route is a rule of the gateway's route")
		}
		if len(validation.IsHTTPHeaderName(h.Name)) > 0 {
			v.failf(field(path, "headerRoute.name"), "want an HTTP header name, got %q", h.Name)
		}
		if h.Value == "" {
			v.failf(field(path, "headerRoute.value"), "want the value to match exactly")
		}
	}
}

// backgroundAnalysis validates the check a canary runs in the background:
// an analysis, whose metrics measure until promotion.
func (v *validator) backgroundAnalysis(path, name string, c *Check) {
	switch {
	case c == nil:
		v.failf(path, "no check is named %q (checks[].name)", name)
	case c.Analysis == nil:
		v.failf(path, "check %q is not an analysis: only metrics run in the background", name)
	default:
		for _, m := range c.Analysis.Metrics {
			if m.Count != nil {
				v.failf(path, "check %q: metric %s sets count: a background analysis measures until promotion", name, m.Name)
			}
		}
	}
}

// explicitServices validates explicit mode's two Services: both or
// neither, with a route, different, each a Service's name.
func (v *validator) explicitServices(path string, c *Canary) {
	stable, canary := c.StableService, c.CanaryService
	switch {
	case stable == "" && canary == "":
		return
	case stable == "":
		v.failf(field(path, "stableService"), "required with canaryService: name both Services, or neither (cutover derives them)")
	case canary == "":
		v.failf(field(path, "canaryService"), "required with stableService: name both Services, or neither (cutover derives them)")
	case c.HTTPRoute == "":
		v.failf(field(path, "stableService"), "needs httpRoute: the route splits between the two Services")
	case stable == canary:
		v.failf(field(path, "canaryService"), "want a Service other than stableService, got %q for both", canary)
	}
	v.dnsLabel(field(path, "stableService"), stable)
	v.dnsLabel(field(path, "canaryService"), canary)
}

package config

import (
	"fmt"
	"maps"
	"slices"

	"github.com/cutover/cutover/internal/verify"
)

// Use sets *dst to the file's value v unless the file left it unset (nil)
// or the flag was given on the command line, which wins.
func Use[T any](dst *T, v *T, flagGiven bool) {
	if v != nil && !flagGiven {
		*dst = *v
	}
}

// UseString sets *dst to the file's value v unless v is empty or the flag
// was given on the command line.
func UseString(dst *string, v string, flagGiven bool) {
	if v != "" && !flagGiven {
		*dst = v
	}
}

// UseList sets *dst to a copy of the file's list v unless v is empty or the
// flag was given on the command line: the flag's list replaces the file's.
func UseList[T any](dst *[]T, v []T, flagGiven bool) {
	if len(v) > 0 && !flagGiven {
		*dst = slices.Clone(v)
	}
}

// VarList returns Vars as K=V strings sorted by name, the form of --var.
func (c *Config) VarList() []string {
	out := make([]string, 0, len(c.Vars))
	for _, k := range sortedKeys(c.Vars) {
		out = append(out, k+"="+c.Vars[k])
	}
	return out
}

// ChecksFor returns, in file order, the checks that run at stage
// (StageStaged or StageProd): those of that stage and those of both. A
// rolling update runs ChecksFor(StageProd).
func (c *Config) ChecksFor(stage string) []Check {
	var out []Check
	for _, ch := range c.Checks {
		if ch.Stage == stage || ch.Stage == "" || ch.Stage == StageBoth {
			out = append(out, ch)
		}
	}
	return out
}

// Policy returns the check's policy with the defaults of verify filled in
// for what the file leaves unset (31 attempts, 10s apart, 5s each, 1 pass).
func (c Check) Policy() verify.Policy {
	var p verify.Policy
	Use(&p.Attempts, c.Attempts, false)
	Use(&p.Interval, c.Interval, false)
	Use(&p.Timeout, c.Timeout, false)
	Use(&p.SuccessesInRow, c.SuccessesInRow, false)
	return p.WithDefaults()
}

// Resolve returns the webhook's URL and headers, with the values named by
// urlEnv and headersEnv taken from the environment through lookup (such as
// os.LookupEnv); each of those variables must be set and not empty.
func (w *Webhook) Resolve(lookup func(string) (string, bool)) (string, map[string]string, error) {
	url := w.URL
	if w.URLEnv != "" {
		var err error
		if url, err = fromEnv(lookup, "urlEnv", w.URLEnv); err != nil {
			return "", nil, err
		}
	}
	headers := maps.Clone(w.Headers)
	for _, h := range sortedKeys(w.HeadersEnv) {
		v, err := fromEnv(lookup, "headersEnv."+h, w.HeadersEnv[h])
		if err != nil {
			return "", nil, err
		}
		if headers == nil {
			headers = map[string]string{}
		}
		headers[h] = v
	}
	return url, headers, nil
}

func fromEnv(lookup func(string) (string, bool), key, name string) (string, error) {
	if v, ok := lookup(name); ok && v != "" {
		return v, nil
	}
	return "", fmt.Errorf("approval.notify.webhook.%s: environment variable %s is not set", key, name)
}

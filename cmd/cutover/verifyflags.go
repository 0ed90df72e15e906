package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/cutover/cutover/internal/config"
	"github.com/cutover/cutover/internal/engine"
	"github.com/cutover/cutover/internal/verify"
)

// verifyFlags are the quick forms of checks: HTTP and command.
type verifyFlags struct {
	url       string
	status    []int
	contains  string
	matches   string
	attempts  int
	interval  time.Duration
	timeout   time.Duration
	successes int
	insecure  bool
	command   string
}

func (f *verifyFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.url, "verify-url", "", "after the rollout, GET this URL until it passes; failure rolls back")
	fs.IntSliceVar(&f.status, "verify-status", nil, "accepted status codes (default: any 2xx)")
	fs.StringVar(&f.contains, "verify-contains", "", "the body must contain this text")
	fs.StringVar(&f.matches, "verify-match", "", "the body must match this regular expression")
	fs.IntVar(&f.attempts, "verify-attempts", 31, "attempts before the check fails")
	fs.DurationVar(&f.interval, "verify-interval", 10*time.Second, "pause between attempts")
	fs.DurationVar(&f.timeout, "verify-timeout", 5*time.Second, "timeout of each attempt")
	fs.IntVar(&f.successes, "verify-successes", 1, "consecutive passes needed")
	fs.BoolVar(&f.insecure, "verify-insecure", false, "do not verify the server's TLS certificate")
	fs.StringVar(&f.command, "verify-command", "",
		"after the rollout (blue-green: at Verify Staged and Verify Prod), run this shell command; exit 0 passes. Its environment has TARGET_ROLE (the color), TEST_URL (--verify-url for the color), APP, NAMESPACE and CUTOVER_STAGE (staged or prod)")
}

// checks returns the checks of the flags: an HTTP check for --verify-url,
// a command check for --verify-command; each runs at every verify stage.
func (f *verifyFlags) checks() (engine.CheckSet, error) {
	if f.url == "" && (f.contains != "" || f.matches != "" || len(f.status) > 0) {
		return nil, usageError{fmt.Errorf("--verify-contains, --verify-match and --verify-status need --verify-url")}
	}
	policy := verify.Policy{Attempts: f.attempts, Interval: f.interval, Timeout: f.timeout, SuccessesInRow: f.successes}
	var out engine.CheckSet
	if f.url != "" {
		h, err := f.httpCheck()
		if err != nil {
			return nil, err
		}
		out = append(out, engine.CheckDef{Stage: config.StageBoth, Policy: policy, Build: engine.HTTPCheck(h, "")})
	}
	if f.command != "" {
		out = append(out, engine.CheckDef{Stage: config.StageBoth, Policy: policy, Build: engine.CommandCheck(f.command, nil, "", f.url)})
	}
	return out, nil
}

func (f *verifyFlags) httpCheck() (*config.HTTPCheck, error) {
	if !strings.HasPrefix(f.url, "http://") && !strings.HasPrefix(f.url, "https://") {
		return nil, usageError{fmt.Errorf("--verify-url %q: want an http:// or https:// URL", f.url)}
	}
	if f.matches != "" {
		if _, err := regexp.Compile(f.matches); err != nil {
			return nil, usageError{fmt.Errorf("--verify-match: %w", err)}
		}
	}
	return &config.HTTPCheck{URL: f.url, Status: f.status, Contains: f.contains, Matches: f.matches, InsecureSkipVerify: &f.insecure}, nil
}

// contextWithTimeout bounds ctx by d when d > 0.
func contextWithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/cutover/cutover/internal/verify"
)

// verifyFlags are the quick form of an HTTP check after the rollout.
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
}

// checks returns the configured checks; none without --verify-url.
func (f *verifyFlags) checks() ([]verify.Spec, error) {
	if f.url == "" {
		if f.contains != "" || f.matches != "" || len(f.status) > 0 {
			return nil, usageError{fmt.Errorf("--verify-contains, --verify-match and --verify-status need --verify-url")}
		}
		return nil, nil
	}
	if !strings.HasPrefix(f.url, "http://") && !strings.HasPrefix(f.url, "https://") {
		return nil, usageError{fmt.Errorf("--verify-url %q: want an http:// or https:// URL", f.url)}
	}
	check := &verify.HTTP{URL: f.url, Status: f.status, Contains: f.contains, InsecureSkipVerify: f.insecure}
	if f.matches != "" {
		re, err := regexp.Compile(f.matches)
		if err != nil {
			return nil, usageError{fmt.Errorf("--verify-match: %w", err)}
		}
		check.Matches = re
	}
	policy := verify.Policy{Attempts: f.attempts, Interval: f.interval, Timeout: f.timeout, SuccessesInRow: f.successes}
	return []verify.Spec{{Check: check, Policy: policy}}, nil
}

// contextWithTimeout bounds ctx by d when d > 0.
func contextWithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// script is a Check whose n-th probe (from 1) passes when pass[n-1] is true;
// past the end, the last entry repeats.
type script struct {
	name  string
	pass  []bool
	calls int
}

func (s *script) Name() string { return s.name }

func (s *script) Probe(ctx context.Context) Result {
	ok := s.pass[min(s.calls, len(s.pass)-1)]
	s.calls++
	verdict := "fail"
	if ok {
		verdict = "pass"
	}
	return Result{OK: ok, Detail: fmt.Sprintf("%s %d", verdict, s.calls)}
}

// blocking is a Check whose probe waits until its ctx ends.
type blocking struct{}

func (blocking) Name() string { return "blocking" }

func (blocking) Probe(ctx context.Context) Result {
	<-ctx.Done()
	return Result{Detail: ctx.Err().Error()}
}

const T, F = true, false

func TestRun(t *testing.T) {
	quick := Policy{Attempts: 4, Interval: time.Millisecond}
	cases := []struct {
		name    string
		pass    []bool
		policy  Policy
		streaks []int  // reported Streak of each attempt
		errHas  string // "" for success
	}{
		{name: "passes first try", pass: []bool{T}, policy: quick, streaks: []int{1}},
		{name: "passes after failures", pass: []bool{F, F, T}, policy: quick, streaks: []int{0, 0, 1}},
		{name: "attempts run out", pass: []bool{F}, policy: quick, streaks: []int{0, 0, 0, 0}, errHas: "after 4 attempts: fail 4"},
		{name: "pass on the last attempt", pass: []bool{F, F, F, T}, policy: quick, streaks: []int{0, 0, 0, 1}},
		{
			name: "streak resets", pass: []bool{T, F, T, T, T},
			policy:  Policy{Attempts: 6, Interval: time.Millisecond, SuccessesInRow: 3},
			streaks: []int{1, 0, 1, 2, 3},
		},
		{
			name: "streak never reached", pass: []bool{T, F, T, F},
			policy:  Policy{Attempts: 4, Interval: time.Millisecond, SuccessesInRow: 2},
			streaks: []int{1, 0, 1, 0}, errHas: "after 4 attempts: fail 4",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &script{name: "fake", pass: tc.pass}
			var seen []Attempt
			err := Run(t.Context(), c, tc.policy, func(a Attempt) { seen = append(seen, a) })
			checkErr(t, err, tc.errHas)
			if len(seen) != len(tc.streaks) || c.calls != len(tc.streaks) {
				t.Fatalf("%d attempts reported, %d probes; want %d", len(seen), c.calls, len(tc.streaks))
			}
			for i, a := range seen {
				want := Attempt{Check: "fake", N: i + 1, Of: tc.policy.Attempts, Streak: tc.streaks[i]}
				if a.Check != want.Check || a.N != want.N || a.Of != want.Of || a.Streak != want.Streak {
					t.Errorf("attempt %d reported as %+v, want %+v", i+1, a, want)
				}
			}
		})
	}
}

func checkErr(t *testing.T, err error, errHas string) {
	t.Helper()
	switch {
	case errHas == "" && err != nil:
		t.Fatalf("err = %v, want nil", err)
	case errHas == "":
	case !errors.Is(err, ErrCheckFailed):
		t.Fatalf("err = %v, want one wrapping ErrCheckFailed", err)
	case !strings.Contains(err.Error(), errHas):
		t.Fatalf("err = %q, want it to contain %q", err, errHas)
	}
}

func TestWithDefaults(t *testing.T) {
	got := Policy{}.WithDefaults()
	want := Policy{Attempts: 31, Interval: 10 * time.Second, Timeout: 5 * time.Second, SuccessesInRow: 1}
	if got != want {
		t.Errorf("zero policy: %+v, want %+v", got, want)
	}
	set := Policy{Attempts: 2, Interval: time.Second, Timeout: time.Minute, SuccessesInRow: 2}
	if got := set.WithDefaults(); got != set {
		t.Errorf("set policy changed: %+v, want %+v", got, set)
	}
}

// TestRunDefaultsPaceLikeTheArticle runs the default policy on a fake clock:
// 31 attempts with 30 pauses of 10 s between them.
func TestRunDefaultsPaceLikeTheArticle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var seen []Attempt
		err := Run(t.Context(), &script{name: "fake", pass: []bool{F}}, Policy{}, func(a Attempt) { seen = append(seen, a) })
		checkErr(t, err, "after 31 attempts")
		if len(seen) != 31 || seen[30].Of != 31 {
			t.Errorf("%d attempts reported, want 31 of 31", len(seen))
		}
		if d := time.Since(start); d != 300*time.Second {
			t.Errorf("took %s on the fake clock, want 5m0s", d)
		}
	})
}

func TestRunWaitsIntervalBetweenAttempts(t *testing.T) {
	start := time.Now()
	err := Run(t.Context(), &script{pass: []bool{F, F, T}}, Policy{Attempts: 3, Interval: 30 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Errorf("3 attempts took %s, want at least 2 intervals of 30ms", d)
	}
}

func TestRunCancelledDuringWaitReturnsPromptly(t *testing.T) {
	const interval = time.Hour
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(20*time.Millisecond, cancel)
	var reports int
	start := time.Now()
	err := Run(ctx, &script{name: "fake", pass: []bool{F}}, Policy{Attempts: 3, Interval: interval}, func(Attempt) { reports++ })
	elapsed := time.Since(start)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrCheckFailed) {
		t.Fatalf("err = %v, want context.Canceled and not ErrCheckFailed", err)
	}
	if !strings.Contains(err.Error(), "last attempt: fail 1") {
		t.Errorf("err = %q, want the last detail", err)
	}
	if elapsed >= interval || elapsed > 5*time.Second {
		t.Errorf("returned after %s", elapsed)
	}
	if reports != 1 {
		t.Errorf("%d attempts reported, want 1", reports)
	}
}

func TestRunCtxEndsDuringProbe(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	var reports int
	err := Run(ctx, blocking{}, Policy{Attempts: 1, Timeout: time.Hour}, func(Attempt) { reports++ })
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrCheckFailed) {
		t.Fatalf("err = %v, want the run's deadline and not ErrCheckFailed", err)
	}
	if reports != 0 {
		t.Errorf("an attempt cut short by the run's ctx was reported")
	}
}

func TestRunPerAttemptTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second) // fails the test rather than hanging it
	defer cancel()
	start := time.Now()
	var seen []Attempt
	err := Run(ctx, blocking{}, Policy{Attempts: 2, Interval: time.Millisecond, Timeout: 20 * time.Millisecond},
		func(a Attempt) { seen = append(seen, a) })
	checkErr(t, err, "after 2 attempts: context deadline exceeded")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s", d)
	}
	for _, a := range seen {
		if a.Result.Duration < 20*time.Millisecond {
			t.Errorf("attempt %d lasted %s, want the 20ms timeout measured", a.N, a.Result.Duration)
		}
	}
}

func TestRunRefusesImpossiblePolicy(t *testing.T) {
	c := &script{pass: []bool{T}}
	err := Run(t.Context(), c, Policy{Attempts: 2, SuccessesInRow: 3}, nil)
	if err == nil || errors.Is(err, ErrCheckFailed) || c.calls != 0 {
		t.Errorf("err = %v after %d probes, want a policy error before any probe", err, c.calls)
	}
}

func TestRunAll(t *testing.T) {
	quick := Policy{Attempts: 2, Interval: time.Millisecond}
	t.Run("stops at first failure", func(t *testing.T) {
		first, bad, never := &script{name: "first", pass: []bool{T}}, &script{name: "bad", pass: []bool{F}}, &script{name: "never", pass: []bool{T}}
		var order []string
		err := RunAll(t.Context(), []Spec{{first, quick}, {bad, quick}, {never, quick}}, func(a Attempt) { order = append(order, a.Check) })
		checkErr(t, err, "bad: check failed after 2 attempts")
		if got := strings.Join(order, ","); got != "first,bad,bad" || never.calls != 0 {
			t.Errorf("attempts %s, %d probes of the third check; want first,bad,bad and none", got, never.calls)
		}
	})
	t.Run("all pass", func(t *testing.T) {
		a, b := &script{pass: []bool{T}}, &script{pass: []bool{F, T}}
		if err := RunAll(t.Context(), []Spec{{a, quick}, {b, quick}}, nil); err != nil || a.calls != 1 || b.calls != 2 {
			t.Errorf("err = %v, probes %d and %d; want nil, 1 and 2", err, a.calls, b.calls)
		}
	})
}

func TestRunSettles(t *testing.T) {
	type rep struct {
		n     int
		ok    bool
		again time.Duration
	}
	cases := []struct {
		name    string
		pass    []bool
		policy  Policy
		want    []rep
		elapsed time.Duration
		failed  bool
	}{
		{"retried at once until it passes", []bool{F, F, T}, Policy{Attempts: 2, Interval: time.Hour, Settle: time.Second},
			[]rep{{1, F, 50 * time.Millisecond}, {1, F, 100 * time.Millisecond}, {1, T, 0}}, 150 * time.Millisecond, false},
		{"the window ends: the interval takes over, no attempt used up", []bool{F}, Policy{Attempts: 2, Interval: time.Minute, Settle: 200 * time.Millisecond},
			[]rep{{1, F, 50 * time.Millisecond}, {1, F, 100 * time.Millisecond}, {1, F, 0}, {2, F, 0}}, 150*time.Millisecond + time.Minute, true},
		{"no settle: the interval", []bool{F, T}, Policy{Attempts: 2, Interval: time.Minute},
			[]rep{{1, F, 0}, {2, T, 0}}, time.Minute, false},
		{"a first pass needs no settling", []bool{T}, Policy{Attempts: 2, Interval: time.Minute, Settle: time.Second},
			[]rep{{1, T, 0}}, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var got []rep
				start := time.Now()
				err := Run(t.Context(), &script{pass: tc.pass}, tc.policy, func(a Attempt) {
					got = append(got, rep{a.N, a.Result.OK, a.Again})
				})
				if (err != nil) != tc.failed || (err != nil && !errors.Is(err, ErrCheckFailed)) {
					t.Fatalf("err = %v, want failed=%v", err, tc.failed)
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("attempts %v, want %v", got, tc.want)
				}
				if d := time.Since(start); d != tc.elapsed {
					t.Errorf("took %s on the fake clock, want %s", d, tc.elapsed)
				}
			})
		})
	}
}

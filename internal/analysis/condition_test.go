package analysis

import (
	"strings"
	"testing"
)

func TestConditionsJudge(t *testing.T) {
	cases := []struct {
		name             string
		success, failure string
		result           any
		want             Phase
	}{
		{"success alone, true", "result < 0.05", "", 0.01, Successful},
		{"success alone, false", "result < 0.05", "", 0.2, Failed},
		{"failure alone, true", "", "result > 0.05", 0.2, Failed},
		{"failure alone, false", "", "result > 0.05", 0.01, Successful},
		{"both, failure wins", "result < 0.5", "result > 0.05", 0.2, Failed},
		{"both, success", "result < 0.05", "result > 0.1", 0.01, Successful},
		{"both, neither: inconclusive", "result < 0.05", "result > 0.1", 0.07, Inconclusive},
		{"a Prometheus vector", "size(result) == 1 && result[0] < 0.05", "", []any{0.01}, Successful},
		{"an empty vector: no data", "size(result) > 0 && result[0] < 0.05", "size(result) == 0", []any{}, Failed},
		{"NaN compares false", "result < 0.05", "", nanValue(), Failed},
		{"a JSON object", "result.errors == 0.0 && result.version == '8'", "", map[string]any{"errors": 0.0, "version": "8"}, Successful},
		{"a missing key cannot be judged", "result.errors == 0.0", "", map[string]any{"version": "8"}, Error},
		{"an index out of range cannot be judged", "result[0] < 0.05", "", []any{}, Error},
		{"not a bool at run time", "result", "", 0.3, Error},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := compileConditions(tc.success, tc.failure)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.judge(tc.result)
			if got != tc.want {
				t.Errorf("judge(%v) = %s (%v), want %s", tc.result, got, err, tc.want)
			}
			if (got == Error) != (err != nil) {
				t.Errorf("phase %s with error %v: an error is an Error, and only an error", got, err)
			}
		})
	}
}

func TestConditionsRefused(t *testing.T) {
	cases := []struct {
		name             string
		success, failure string
		want             []string // in the error
	}{
		{"none", "", " ", []string{"no successCondition and no failureCondition"}},
		{"a syntax error, with its position", "result <", "", []string{"successCondition", "result <", "1:9"}},
		{"an unknown variable", "", "errors > 1", []string{"failureCondition", "undeclared reference to 'errors'"}},
		{"not a bool", "1 + 2", "", []string{"successCondition", "want a bool"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compileConditions(tc.success, tc.failure)
			if err == nil {
				t.Fatal("compiled")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func nanValue() float64 {
	zero := 0.0
	return zero / zero
}

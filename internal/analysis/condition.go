package analysis

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
)

// Phase is how a measurement, a metric or an analysis went.
type Phase string

// Phases.
const (
	Successful   Phase = "successful"
	Failed       Phase = "failed"
	Inconclusive Phase = "inconclusive"
	Error        Phase = "error" // a measurement only: the value could not be had or judged
)

// conditions are a metric's compiled success and failure conditions.
type conditions struct {
	success, failure cel.Program
}

// env is the CEL environment of every condition: `result` is what the
// provider returned (a number, a list of numbers for a Prometheus vector,
// any JSON value for a web provider).
var env = func() *cel.Env {
	e, err := cel.NewEnv(cel.Variable("result", cel.DynType))
	if err != nil {
		panic(err) // a fixed declaration: cannot fail
	}
	return e
}()

// compileConditions compiles a metric's conditions; an error names the
// condition and the position in it.
func compileConditions(success, failure string) (conditions, error) {
	if strings.TrimSpace(success) == "" && strings.TrimSpace(failure) == "" {
		return conditions{}, errors.New("no successCondition and no failureCondition: a metric needs one to judge its result")
	}
	var c conditions
	var err error
	if c.success, err = compile("successCondition", success); err != nil {
		return conditions{}, err
	}
	if c.failure, err = compile("failureCondition", failure); err != nil {
		return conditions{}, err
	}
	return c, nil
}

func compile(field, expr string) (cel.Program, error) {
	prg, err := program(expr)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", field, expr, err)
	}
	return prg, nil
}

// CheckCondition compiles a condition, for validation before anything
// runs; its error gives the position of a syntax error. An empty one is
// none.
func CheckCondition(expr string) error {
	_, err := program(expr)
	return err
}

func program(expr string) (cel.Program, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, nil
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	if t := ast.OutputType(); t != cel.BoolType && t != cel.DynType {
		return nil, fmt.Errorf("gives %s, want a bool", t)
	}
	return env.Program(ast)
}

// judge decides a measurement's phase from its result.
func (c conditions) judge(result any) (Phase, error) {
	failed, err := eval(c.failure, result)
	if err != nil {
		return Error, fmt.Errorf("failureCondition: %w", err)
	}
	succeeded, err := eval(c.success, result)
	if err != nil {
		return Error, fmt.Errorf("successCondition: %w", err)
	}
	switch {
	case c.failure != nil && failed:
		return Failed, nil
	case c.success != nil && succeeded:
		return Successful, nil
	case c.success != nil && c.failure != nil:
		return Inconclusive, nil
	case c.success != nil:
		return Failed, nil
	}
	return Successful, nil
}

// eval runs a condition; a nil one is false.
func eval(p cel.Program, result any) (bool, error) {
	if p == nil {
		return false, nil
	}
	out, _, err := p.Eval(map[string]any{"result": result})
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("gave %v (%s), want a bool", out, out.Type())
	}
	return bool(b), nil
}

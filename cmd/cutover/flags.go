package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/cutover/cutover/internal/config"
	"github.com/cutover/cutover/internal/drift"
	"github.com/cutover/cutover/internal/kube"
	"github.com/cutover/cutover/internal/manifest"
)

// kubeFlags are kubectl's connection flags.
type kubeFlags struct {
	kubeconfig, context, namespace string
	// namespaces are -n's values where it may be given more than once
	// (registerMany); the first is namespace.
	namespaces []string
	debug      bool
}

func (f *kubeFlags) register(fs *pflag.FlagSet) {
	f.registerCommon(fs)
	fs.StringVarP(&f.namespace, "namespace", "n", "", "namespace for objects that name none (default: the context's namespace); objects naming another namespace are refused")
}

// registerMany is register for the commands that show several
// namespaces: -n may be repeated or hold a comma-separated list.
func (f *kubeFlags) registerMany(fs *pflag.FlagSet) {
	f.registerCommon(fs)
	fs.StringSliceVarP(&f.namespaces, "namespace", "n", nil, "namespaces to show: repeat the flag or separate them by commas (default: the context's namespace)")
}

// checkNamespaces refuses a -n value that cannot name a namespace.
func (f *kubeFlags) checkNamespaces() error {
	for _, ns := range f.namespaces {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return fmt.Errorf("-n %q: not a namespace name: %s", ns, strings.Join(errs, "; "))
		}
	}
	return nil
}

func (f *kubeFlags) registerCommon(fs *pflag.FlagSet) {
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)")
	fs.StringVar(&f.context, "context", "", "kubeconfig context to use (default: the current context)")
	fs.BoolVar(&f.debug, "debug", false, "log every Kubernetes API request (method, URL, status, duration; never bodies) to stderr")
}

// connect builds the clients; with --debug each API request is logged to
// stderr.
func (f *kubeFlags) connect(stderr io.Writer) (*kube.Clients, error) {
	if len(f.namespaces) > 0 {
		f.namespace = f.namespaces[0]
	}
	opts := kube.Options{Kubeconfig: f.kubeconfig, Context: f.context, Namespace: f.namespace, UserAgent: "cutover/" + version}
	if f.debug {
		opts.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return kube.Connect(opts)
}

// inputFlags select and substitute the resource files.
type inputFlags struct {
	files      []string
	vars       []string
	varFiles   []string
	strict     bool
	secretVars []string
}

func (f *inputFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&f.files, "filename", "f", nil, "resource file, glob (** allowed), directory (recursive: *.yaml, *.yml, *.json) or - for stdin; repeatable")
	fs.StringArrayVar(&f.vars, "var", nil, "variable K=V for $K and ${K} in the files; repeatable; wins over --var-file and the environment")
	fs.StringArrayVar(&f.varFiles, "var-file", nil, "file of KEY=VALUE lines; repeatable; wins over the environment")
	fs.BoolVar(&f.strict, "strict-vars", false, "fail on variables that are not defined, instead of leaving them as written")
	fs.StringArrayVar(&f.secretVars, "secret-var", nil, "name of a variable whose value must never be printed; repeatable")
}

// load reads and substitutes the files, with extra variables on top (the
// role variable of blue/green). Its errors are bad input.
func (f *inputFlags) load(ctx context.Context, stdin io.Reader, extra ...string) (*manifest.Set, []string, error) {
	if len(f.files) == 0 {
		return nil, nil, usageError{errors.New("no input: give -f FILE, -f DIR, -f 'GLOB' or -f -")}
	}
	vars, err := f.variables()
	if err != nil {
		return nil, nil, err
	}
	for _, kv := range extra {
		if err := vars.Set(kv); err != nil {
			return nil, nil, usageError{err}
		}
	}
	set, err := manifest.Load(ctx, manifest.Options{Paths: f.files, Stdin: stdin, Vars: vars, Strict: f.strict})
	if err != nil {
		return nil, nil, badInput{err}
	}
	return set, f.secrets(vars), nil
}

// rereadableStdin reads standard input once, when a file is "-", so that the
// files can be rendered more than once (once per color).
func (f *inputFlags) rereadableStdin(stdin io.Reader) (func() io.Reader, error) {
	if !slices.Contains(f.files, "-") {
		return func() io.Reader { return stdin }, nil
	}
	data, err := io.ReadAll(io.LimitReader(stdin, manifest.MaxInputBytes+1))
	if err != nil {
		return nil, badInput{fmt.Errorf("read standard input: %w", err)}
	}
	if len(data) > manifest.MaxInputBytes {
		return nil, badInput{fmt.Errorf("<stdin>: larger than %d bytes, the limit", manifest.MaxInputBytes)}
	}
	return func() io.Reader { return bytes.NewReader(data) }, nil
}

func (f *inputFlags) variables() (*manifest.Vars, error) {
	v := manifest.NewVars()
	v.SetEnv(os.Environ())
	for _, path := range f.varFiles {
		if err := v.LoadFile(path); err != nil {
			return nil, badInput{fmt.Errorf("--var-file: %w", err)}
		}
	}
	for _, kv := range f.vars {
		if err := v.Set(kv); err != nil {
			name, _, _ := strings.Cut(kv, "=") // never the value: it may be a secret
			return nil, usageError{fmt.Errorf("--var %s=...: %w", name, err)}
		}
	}
	return v, nil
}

// secrets returns the values never to print.
func (f *inputFlags) secrets(v *manifest.Vars) []string {
	var out []string
	for _, name := range f.secretVars {
		if val, ok := v.Lookup(name); ok {
			out = append(out, val)
		}
	}
	return out
}

// guardFlags configure the endpoint drift guard (package drift).
type guardFlags struct {
	on    bool
	grace time.Duration
}

func (f *guardFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.on, "endpoint-guard", true, "while waiting, compare each Service's ready endpoints with the ready pods it selects; "+
		"when they disagree for --endpoint-grace, resync the EndpointSlice controller (an annotation on the Service), "+
		"drop the endpoints of pods that are gone if it still does not follow, and pause a rolling Deployment until they agree")
	fs.DurationVar(&f.grace, "endpoint-grace", drift.DefaultGrace, "how long a pod's endpoint may disagree with the pod before the endpoint guard acts")
}

func (f *guardFlags) applyConfig(c config.EndpointGuard, set func(string) bool) {
	config.Use(&f.on, c.Enabled, set("endpoint-guard"))
	config.Use(&f.grace, c.Grace, set("endpoint-grace"))
}

func (f *guardFlags) validate() error {
	if f.grace <= 0 {
		return usageError{fmt.Errorf("--endpoint-grace %s: must be positive", f.grace)}
	}
	return nil
}

func (f *guardFlags) settings() drift.Settings { return drift.Settings{Off: !f.on, Grace: f.grace} }

package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/internal/apiversions"
	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/manifest"
	"github.com/cutover/cutover/internal/output"
)

func newRenderCmd() *cobra.Command {
	var in inputFlags
	var showSecrets, fixAPI bool
	cmd := &cobra.Command{
		Use:   "render -f PATH... [--var K=V]...",
		Short: "Print the substituted, parsed objects as YAML; touches no cluster",
		Long: `Render reads the resource files as deploy does, substitutes the variables,
and prints the objects as one YAML stream, like "helm template". It talks to
no cluster. The values of Secrets are shown as "***" unless --show-secrets.

--fix-api rewrites what a current cluster refuses in manifests written
before Kubernetes 1.16, 1.22 or 1.25: removed apiVersions become their
replacements (extensions/v1beta1 Deployment -> apps/v1, Ingress ->
networking.k8s.io/v1 with its backends moved, batch/v1beta1 CronJob ->
batch/v1, policy/v1beta1 PodDisruptionBudget -> policy/v1, autoscaling
v2beta1/v2beta2 -> v2...), and workloads without spec.selector get one from
their template's labels. Every change is listed on stderr, for review: run it
without --var, so that variables stay as written, and commit the result.
cutover deploy never converts anything by itself.

` + exitCodesHelp,
		Example: `  cutover render -f deploy/ --var TOMCAT_VERSION=8
  cutover render -f app.yaml --strict-vars > rendered.yaml
  cutover render -f seed-rolling.yml --fix-api > seed-rolling.fixed.yml`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			set, secrets, err := in.load(cmd.Context(), cmd.InOrStdin())
			if err != nil {
				return err
			}
			warnUndefined(output.NewLines(cmd.ErrOrStderr()), set.Undefined)
			if !showSecrets {
				set.RedactSecrets()
			}
			if fixAPI {
				fixAPIs(cmd.ErrOrStderr(), set.Objects)
			}
			var buf bytes.Buffer
			if err := set.YAML(&buf); err != nil {
				return err
			}
			_, err = io.WriteString(cmd.OutOrStdout(), event.Masker(secrets)(buf.String()))
			return err
		},
	}
	in.register(cmd.Flags())
	cmd.Flags().BoolVar(&showSecrets, "show-secrets", false, "print the values of Secrets")
	cmd.Flags().BoolVar(&fixAPI, "fix-api", false, "replace removed apiVersions and add missing workload selectors; the changes are listed on stderr")
	return cmd
}

// fixAPIs converts the objects and lists each change on w.
func fixAPIs(w io.Writer, objs []manifest.Object) {
	n := 0
	for _, o := range objs {
		changes := append(apiversions.Fix(o.Unstructured), apiversions.FixSelector(o.Unstructured)...)
		if len(changes) == 0 {
			continue
		}
		n++
		fmt.Fprintf(w, "# %s, document %d: %s/%s: %s\n", o.Source.File, o.Source.Doc, o.GetKind(), o.GetName(), strings.Join(changes, "; "))
	}
	fmt.Fprintf(w, "# --fix-api: %d of %d objects changed\n", n, len(objs))
}

package main

import (
	"bytes"
	"io"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/output"
)

func newRenderCmd() *cobra.Command {
	var in inputFlags
	var showSecrets bool
	cmd := &cobra.Command{
		Use:   "render -f PATH... [--var K=V]...",
		Short: "Print the substituted, parsed objects as YAML; touches no cluster",
		Long: `Render reads the resource files as deploy does, substitutes the variables,
and prints the objects as one YAML stream, like "helm template". It talks to
no cluster. The values of Secrets are shown as "***" unless --show-secrets.

` + exitCodesHelp,
		Example: `  cutover render -f deploy/ --var TOMCAT_VERSION=8
  cutover render -f app.yaml --strict-vars > rendered.yaml`,
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
	return cmd
}

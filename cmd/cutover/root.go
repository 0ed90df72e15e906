package main

import (
	"errors"
	"strings"

	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "cutover",
		Short: "Zero-downtime deployments to Kubernetes, from CI or a terminal",
		Long: `cutover deploys to Kubernetes without dropping traffic, and without kubectl.

Rolling update: apply the resources with server-side apply, watch the rollout
until every new pod is ready and every old one is gone, fail on the progress
deadline, and roll back on its own.

Blue/green: find the active color from the production Service, deploy the new
version to the idle color, verify it through its test endpoint, wait for a
person's approval if asked, switch the production Service, verify production,
and switch back at once if anything fails.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newDeployCmd(), newRenderCmd(), newRollbackCmd(), newDecideCmd(true), newDecideCmd(false),
		newPromoteCmd(), newAbortCmd(),
		newRecordsCmd(false), newRecordsCmd(true), newEndpointsCmd(), newDashboardCmd(), newServeCmd(), newVersionCmd())
	return root
}

// usageError marks bad flags or arguments.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u) || isUnknownCommand(err)
}

// usageArgs wraps a cobra argument validator so that its errors are usage
// errors.
func usageArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// isUnknownCommand reports cobra's error for an unknown subcommand, which
// cobra does not type.
func isUnknownCommand(err error) bool {
	return strings.HasPrefix(err.Error(), "unknown command")
}

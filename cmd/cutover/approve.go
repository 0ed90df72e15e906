package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/internal/engine"
)

type decideOptions struct {
	kube    kubeFlags
	by      string
	comment string
}

// newDecideCmd returns `cutover approve` (approve true) or `cutover reject`.
func newDecideCmd(approve bool) *cobra.Command {
	o := &decideOptions{}
	verb, effect := "reject", "The waiting run stops with production untouched."
	if approve {
		verb, effect = "approve", "The waiting run switches production to the new color."
	}
	cmd := &cobra.Command{
		Use:   verb + " APP",
		Short: fmt.Sprintf("%s the blue/green release of APP that waits at Confirm", capitalize(verb)),
		Long: fmt.Sprintf(`%s the release of APP that waits for approval (deploy --approval manual).
%s It works from any machine with access to the namespace: the
decision is written to the run's release record, which the run watches. The
record keeps who decided (--by, default $CUTOVER_USER, $BUILD_USER_ID,
$GITHUB_ACTOR, $GITLAB_USER_LOGIN or user@host) and when.

Exit code 3 when no release of APP waits for approval.`, capitalize(verb), effect),
		Example: fmt.Sprintf("  cutover %s tomcat-service -n prod --comment \"checked the test URL\"", verb),
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE:    func(cmd *cobra.Command, args []string) error { return o.run(cmd, args[0], approve) },
	}
	o.kube.register(cmd.Flags())
	cmd.Flags().StringVar(&o.by, "by", "", "who decides (default: from the environment, see above)")
	cmd.Flags().StringVar(&o.comment, "comment", "", "a note kept in the release record")
	return cmd
}

func (o *decideOptions) run(cmd *cobra.Command, app string, approve bool) error {
	clients, err := o.kube.connect(cmd.ErrOrStderr())
	if err != nil {
		return badInput{err}
	}
	by := o.by
	if by == "" {
		by = decider()
	}
	r, err := engine.Decide(cmd.Context(), engine.DecideRequest{
		Run: engine.Run{Clients: clients, App: app}, Approve: approve, By: by, Comment: o.comment,
	})
	if err != nil {
		return err // a refusal (nothing pending, denied) wraps strategy.ErrRefused: exit 3
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s revision %d of %s (%s to %s) as %s\n",
		pastTense(approve), r.Revision, r.App, orNone(r.FromColor), r.ToColor, by)
	return nil
}

func pastTense(approve bool) string {
	if approve {
		return "approved"
	}
	return "rejected"
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// Command cutover deploys to Kubernetes without dropping traffic: rolling
// updates watched until they are really done and rolled back when they are
// not, and blue/green releases verified before and after the switch.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes. Decided here and nowhere else.
const (
	exitOK     = 0
	exitFailed = 1 // the deployment failed
	exitUsage  = 2 // bad flags or arguments
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

func run(ctx context.Context, args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(os.Stderr, "error:", err)
	return exitCode(err)
}

func exitCode(err error) int {
	if isUsage(err) {
		return exitUsage
	}
	return exitFailed
}

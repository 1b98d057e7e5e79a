// Command weightgate is the model-weight export control gateway: see
// `weightgate --help`, README.md and docs/.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := NewMain().Run(ctx, os.Args[1:])
	code := exitCode(err)
	if err != nil && code == 2 {
		fmt.Fprintln(os.Stderr, "weightgate:", err)
	}
	stop()
	os.Exit(code)
}

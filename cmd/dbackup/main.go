// Command dbackup backs up databases to storage destinations and restores
// them. `dbackup serve` runs the service; every other command is a one-shot.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/dbackup/dbackup/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx)
	stop()
	os.Exit(code)
}

// Command dbackup backs up databases to storage destinations and restores
// them. `dbackup serve` runs the service; every other command is a one-shot.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/dbackup/dbackup/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// DBACKUP_CPUPROFILE=file writes a CPU profile of this command (make
	// profile); a running server has /debug/pprof instead.
	if path := os.Getenv("DBACKUP_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "dbackup: DBACKUP_CPUPROFILE:", err)
			os.Exit(1)
		}
		defer f.Close()
	}
	code := cli.Run(ctx)
	stop()
	pprof.StopCPUProfile()
	// DBACKUP_MEMPROFILE=file writes what the command allocated.
	if path := os.Getenv("DBACKUP_MEMPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	os.Exit(code)
}

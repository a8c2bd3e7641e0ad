package source

import (
	"context"
	"log/slog"
	"syscall"
	"time"

	"github.com/dbackup/dbackup/internal/source/proc"
)

// Throwaway is a private server of an engine that a drill restores a
// backup into: started by dbackup in a private directory, reached only
// through a socket there (no TCP port), stopped and removed after.
type Throwaway struct {
	Source  Source // restores into the throwaway server
	Version string // the server's version
	Stop    func() error
}

// ThrowawayOptions say where the server lives and what it must take.
type ThrowawayOptions struct {
	Dir      string   // a private (0700), empty directory; the caller removes it
	Version  string   // the backup's engine version: the server must restore it
	ToolDirs []string // where to look for server programs, besides the system's
	Log      *slog.Logger
}

// Starter starts an engine's throwaway server.
type Starter func(ctx context.Context, o ThrowawayOptions) (*Throwaway, error)

// Serve waits up to wait for s, served by srv, to answer and returns the
// throwaway, its Stop sending sig; on failure srv is stopped.
func Serve(ctx context.Context, srv *proc.Server, s Source, sig syscall.Signal, wait time.Duration) (*Throwaway, error) {
	stop := func() error { return srv.Stop(sig, 30*time.Second) }
	err := srv.Ready(ctx, wait, func() bool { return s.Check(ctx) == nil })
	var version string
	if err == nil {
		version, err = s.Version(ctx)
	}
	if err != nil {
		stop()
		return nil, err
	}
	return &Throwaway{Source: s, Version: version, Stop: stop}, nil
}

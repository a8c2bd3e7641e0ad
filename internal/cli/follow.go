package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/backup"
)

// follow runs an execution in the foreground, printing its log as it is
// written. Interrupting the command (ctx done) cancels the execution.
func follow(ctx context.Context, w io.Writer, a *app.App, id string, run func(ctx context.Context) (*backup.Execution, error)) error {
	runCtx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	stop := context.AfterFunc(ctx, func() { cancel(backup.ErrCancelled) })
	defer stop()

	type result struct {
		e   *backup.Execution
		err error
	}
	done := make(chan result, 1)
	go func() {
		e, err := run(runCtx)
		done <- result{e, err}
	}()
	var seq int64
	printLogs := func() {
		logs, err := a.Store.ListLogs(context.Background(), id, seq, 0)
		if err != nil {
			return
		}
		for _, l := range logs {
			printLog(w, l)
			seq = l.Seq
		}
	}
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			printLogs()
		case r := <-done:
			printLogs()
			if r.err != nil && r.e == nil {
				return r.err
			}
			return summarize(w, r.e)
		}
	}
}

// summarize prints the outcome and maps it to the exit code.
func summarize(w io.Writer, e *backup.Execution) error {
	fmt.Fprintf(w, "\n%s %s: %s\n", e.Kind, e.ID, e.Status)
	if e.BackupName != "" && (e.Status == backup.StatusSuccess || e.Status == backup.StatusPartial || e.Kind != backup.KindBackup) {
		fmt.Fprintf(w, "backup:  %s\n", e.BackupName)
	}
	if e.SHA256 != "" {
		fmt.Fprintf(w, "size:    %d bytes dumped, %d bytes stored, sha256 %s\n", e.BytesDumped, e.BytesStored, e.SHA256)
	}
	if d := e.Drill; d != nil {
		summarizeDrill(w, d)
	}
	for _, d := range e.Destinations {
		if e.Kind == backup.KindDrill {
			break
		}
		line := fmt.Sprintf("  %-12s %s", d.Name, d.Status)
		if d.Verified {
			line += " (verified)"
		}
		if d.Error != "" {
			line += ": " + d.Error
		}
		fmt.Fprintln(w, line)
	}
	switch e.Status {
	case backup.StatusSuccess:
		return nil
	case backup.StatusPartial:
		return exitError{ExitPartial, "partial: " + e.Error}
	}
	if e.Error == "" {
		return errors.New(string(e.Status))
	}
	return exitError{ExitFailed, string(e.Status) + ": " + e.Error}
}

// summarizeDrill prints what a drill found: where, how long, and each
// table whose count differs (or all of them when there are few).
func summarizeDrill(w io.Writer, d *backup.Drill) {
	if d.Skipped != "" {
		return
	}
	fmt.Fprintf(w, "restored into %s %s: %s", d.Target, d.ServerVersion, d.Summary())
	if d.StartupMillis > 0 {
		fmt.Fprintf(w, " (server started in %s)", time.Duration(d.StartupMillis)*time.Millisecond)
	}
	fmt.Fprintln(w)
	for _, t := range d.Tables {
		if t.Found != t.Expected || len(d.Tables) <= 20 {
			fmt.Fprintf(w, "  %-40s expected %12s  found %12s\n", t.Database+"."+t.Table, backup.Thousands(t.Expected), backup.Thousands(t.Found))
		}
	}
}

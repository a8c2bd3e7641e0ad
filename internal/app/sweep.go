package app

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/runner"
	"github.com/dbackup/dbackup/internal/store"
)

// cleanupInterrupted removes what an interrupted run left: the scratch
// databases of a restore or drill, a drill's throwaway server; for a backup, at each of its job's destinations,
// what its uploads left (temporary files, unfinished multipart uploads)
// and its data object if it has no sidecar, also under its final name (the
// run recorded the key before writing it, and the key was free).
func (a *App) cleanupInterrupted(e *backup.Execution) {
	ctx := context.Background()
	if e.Kind == backup.KindRestore || e.Kind == backup.KindDrill {
		if dropped, err := a.Runner.CleanLeftovers(ctx, e.ID); err != nil {
			a.Log.Warn("could not drop what an interrupted restore or drill left; retried every minute", "execution", e.ID, "dropped", dropped, "err", err)
		} else if len(dropped) > 0 {
			a.Log.Info("dropped what an interrupted restore or drill left", "execution", e.ID, "databases", dropped)
		}
		if e.Kind == backup.KindDrill {
			a.sweepDrills()
		}
		return
	}
	if e.Kind != backup.KindBackup || e.BackupName == "" || e.JobID == "" {
		return
	}
	job, err := a.Store.GetJob(ctx, e.JobID)
	if err != nil {
		return
	}
	for _, jd := range job.Destinations {
		ep, err := a.Store.Destinations().Get(ctx, jd.DestinationID)
		if err != nil {
			continue
		}
		d, err := a.Dests.New(ep)
		if err != nil {
			continue
		}
		if ab, ok := dest.As[dest.UploadAborter](d); ok {
			if n, err := ab.AbortUploads(ctx, e.BackupName); err == nil && n > 0 {
				a.Log.Info("removed what an interrupted upload left", "destination", ep.Name, "objects", n, "backup", e.BackupName)
			}
		}
		if _, err := d.Stat(ctx, e.BackupName+backup.MetaSuffix); errors.Is(err, dest.ErrNotFound) {
			if _, err := d.Stat(ctx, e.BackupName); err == nil {
				if err := d.Delete(ctx, e.BackupName); err == nil {
					a.Log.Info("removed the data of an interrupted backup, which has no sidecar", "destination", ep.Name, "backup", e.BackupName)
				}
			}
		}
		d.Close()
	}
}

// SweepUploads aborts, at every destination that can hold them unseen,
// unfinished uploads older than the stall timeout that no running backup
// is writing: those of processes killed or servers lost, whose runs were
// never seen to end. It returns how many it aborted.
func (a *App) SweepUploads(ctx context.Context) (int, error) {
	eps, err := a.Store.Destinations().List(ctx)
	if err != nil {
		return 0, err
	}
	running, err := a.Store.ListExecutions(ctx, store.ExecutionFilter{Status: backup.StatusRunning, Kind: backup.KindBackup, Limit: 10000})
	if err != nil {
		return 0, err
	}
	busy := map[string]bool{}
	for _, e := range running {
		busy[e.BackupName] = true
	}
	before := time.Now().Add(-time.Duration(a.intSetting(ctx, runner.SettingStallMinutes)) * time.Minute)
	total := 0
	var errs []error
	for _, ep := range eps {
		d, err := a.Dests.New(ep)
		if err != nil {
			continue
		}
		if sa, ok := dest.As[dest.StaleAborter](d); ok {
			n, err := sa.AbortStale(ctx, before, func(key string) bool { return busy[key] })
			total += n
			if err != nil {
				errs = append(errs, err)
			}
			if n > 0 {
				a.Log.Info("aborted unfinished uploads no run is writing", "destination", ep.Name, "uploads", n)
			}
		}
		d.Close()
	}
	return total, errors.Join(errs...)
}

// deadProcessOfThisNode tells a foreground node name of this node whose
// process is gone ("n1/pid-123": a restore or a CLI run of a process that
// died), so that the start need not wait for its heartbeat to go stale.
func (a *App) deadProcessOfThisNode(node string) bool {
	pid, ok := strings.CutPrefix(node, a.Cfg.NodeID+"/pid-")
	if !ok || pid == strconv.Itoa(os.Getpid()) {
		return false
	}
	_, err := os.Stat("/proc/" + pid)
	return os.IsNotExist(err)
}

// sweepDrills removes what the drills of dead processes left on this host.
func (a *App) sweepDrills() {
	removed, err := a.Runner.SweepDrills()
	if err != nil {
		a.Log.Warn("could not remove what interrupted drills left", "err", err)
	}
	if len(removed) > 0 {
		a.Log.Info("removed the throwaway servers of interrupted drills", "directories", removed)
	}
}

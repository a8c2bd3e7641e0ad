package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/catalog"
	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/retention"
)

// SettingMaxDeletePercent is the largest share of a job's backups at one
// destination that retention may delete at once (default 50).
const SettingMaxDeletePercent = "retention_max_delete_percent"

// SettingNamingTemplate names the backups of jobs without their own
// naming template (empty: backup.DefaultNamingTemplate).
const SettingNamingTemplate = "naming_template"

// RetentionPlan is what retention would do for one job at one destination.
type RetentionPlan struct {
	DestinationID string               `json:"destination_id"`
	Destination   string               `json:"destination"`
	Policy        retention.Policy     `json:"policy"`
	PolicySource  string               `json:"policy_source"` // "template NAME", "inline", "default template NAME" or "none"
	Decisions     []retention.Decision `json:"decisions"`
	Keep          int                  `json:"keep"`
	Delete        int                  `json:"delete"`
	// Ignored lists objects in the job's folder that are not this job's
	// complete backups; retention never touches them.
	Ignored []catalog.Problem `json:"ignored"`
	// Blocked says why the plan must not be applied, if a safety rail stopped it.
	Blocked string `json:"blocked,omitempty"`
	// Error says why there is no plan for this destination.
	Error string `json:"error,omitempty"`
}

// ResolvePolicy returns the policy of a job destination: its template, else
// its inline policy, else the default template, else keep all.
func (r *Runner) ResolvePolicy(ctx context.Context, jd backup.JobDestination) (retention.Policy, string, error) {
	if jd.PolicyID != "" {
		t, err := r.Store.GetPolicy(ctx, jd.PolicyID)
		if err != nil {
			return retention.Policy{}, "", err
		}
		p, err := retention.Parse(t.Policy)
		return p, "template " + t.Name, err
	}
	if len(jd.Retention) > 0 && string(jd.Retention) != "{}" {
		p, err := retention.Parse(jd.Retention)
		return p, "inline", err
	}
	t, err := r.Store.DefaultPolicy(ctx)
	if err != nil || t == nil {
		return retention.Policy{Mode: retention.ModeNone}, "none", err
	}
	p, err := retention.Parse(t.Policy)
	return p, "default template " + t.Name, err
}

// PlanRetention lists the job's backups at d and plans them with policy
// (nil: the destination's own). Only backups whose sidecar names this job
// are candidates.
func (r *Runner) PlanRetention(ctx context.Context, job *backup.Job, jd backup.JobDestination, name string, d dest.Destination, policy *retention.Policy) (RetentionPlan, error) {
	plan := RetentionPlan{DestinationID: jd.DestinationID, Destination: name, Ignored: []catalog.Problem{}, Decisions: []retention.Decision{}}
	if policy != nil {
		plan.Policy, plan.PolicySource = *policy, "preview"
	} else {
		p, src, err := r.ResolvePolicy(ctx, jd)
		if err != nil {
			return plan, err
		}
		plan.Policy, plan.PolicySource = p, src
	}
	backups, problems, err := catalog.List(ctx, d, backup.SafeName(job.Name)+"/", r.Keyring())
	if err != nil {
		return plan, err
	}
	plan.Ignored = append(plan.Ignored, problems...)
	var items []retention.Item
	for _, b := range backups {
		if b.Meta.JobID != job.ID {
			plan.Ignored = append(plan.Ignored, catalog.Problem{Key: b.Key, Reason: "backup of another job (" + b.Meta.JobName + ")"})
			continue
		}
		items = append(items, retention.Item{Key: b.Key, Time: b.Meta.CreatedAt, Locked: b.Meta.Locked})
	}
	plan.Decisions = retention.Plan(items, plan.Policy, r.zone(ctx))
	plan.Keep, plan.Delete = retention.Summary(plan.Decisions)
	if limit := r.maxDeletePercent(ctx); plan.Delete > 0 && plan.Delete*100 > limit*len(items) {
		plan.Blocked = fmt.Sprintf("the policy would delete %d of %d backups, more than the %d%% allowed at once (setting %s); nothing was deleted",
			plan.Delete, len(items), limit, SettingMaxDeletePercent)
	}
	return plan, nil
}

func (r *Runner) maxDeletePercent(ctx context.Context) int {
	v, ok, err := r.Store.GetSetting(ctx, SettingMaxDeletePercent)
	if err != nil || !ok {
		return 50
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 100 {
		return 50
	}
	return n
}

// ApplyRetention deletes what plan says to delete. Unless force is set, a
// blocked plan deletes nothing. It returns how many backups were deleted
// and the errors of deletions that failed.
func ApplyRetention(ctx context.Context, d dest.Destination, plan RetentionPlan, force bool, logf func(level backup.Level, msg string)) (int, []error) {
	if plan.Blocked != "" && !force {
		logf(backup.LevelWarn, plan.Blocked)
		return 0, nil
	}
	deleted := 0
	var errs []error
	for _, dec := range plan.Decisions {
		if dec.Keep {
			continue
		}
		if err := catalog.Delete(ctx, d, dec.Key); err != nil {
			errs = append(errs, err)
			logf(backup.LevelWarn, fmt.Sprintf("retention could not delete %s: %v", dec.Key, err))
			continue
		}
		deleted++
		logf(backup.LevelInfo, fmt.Sprintf("deleted %s (%s)", dec.Key, dec.Reason))
	}
	return deleted, errs
}

// retentionStage applies retention at every destination where this run's
// backup was uploaded and verified. It never changes the run's status.
func (r *Runner) retentionStage(ctx context.Context, job *backup.Job, targets []*target, objKey string, l *execLog) error {
	for i, t := range targets {
		if t.result.Status != backup.StatusSuccess || !t.result.Verified {
			l.info("destination %s: retention skipped: this run's backup there did not succeed", t.ep.Name)
			continue
		}
		plan, err := r.PlanRetention(ctx, job, job.Destinations[i], t.ep.Name, t.d, nil)
		if err != nil {
			l.warn("destination %s: retention not applied: %v", t.ep.Name, err)
			continue
		}
		if plan.Policy.Mode == retention.ModeNone {
			l.info("destination %s: no retention policy, keeping all %d backups", t.ep.Name, plan.Keep)
			continue
		}
		if !planKeeps(plan, objKey) {
			l.warn("destination %s: retention skipped: the backup just made is not among the listed backups", t.ep.Name)
			continue
		}
		for _, p := range plan.Ignored {
			l.info("destination %s: retention ignores %s: %s", t.ep.Name, p.Key, p.Reason)
		}
		l.info("destination %s: retention %s (%s): keeping %d, deleting %d", t.ep.Name, plan.Policy, plan.PolicySource, plan.Keep, plan.Delete)
		ApplyRetention(ctx, t.d, plan, false, func(level backup.Level, msg string) { l.add(level, "destination "+t.ep.Name+": "+msg) })
	}
	return nil
}

func planKeeps(plan RetentionPlan, key string) bool {
	for _, d := range plan.Decisions {
		if d.Key == key {
			return d.Keep
		}
	}
	return false
}

// ParsePolicyPreview decodes a policy given for a dry-run.
func ParsePolicyPreview(raw json.RawMessage) (*retention.Policy, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	p, err := retention.Parse(raw)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

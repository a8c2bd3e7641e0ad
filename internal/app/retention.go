package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/catalog"
	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/retention"
	"github.com/dbackup/dbackup/internal/runner"
)

// PolicyInput creates or updates a retention policy template.
type PolicyInput struct {
	Name    string          `json:"name"`
	Policy  json.RawMessage `json:"policy"`
	Default bool            `json:"default"`
}

func (in PolicyInput) template(t *backup.PolicyTemplate) error {
	if err := backup.CheckName("the policy name", strings.TrimSpace(in.Name)); err != nil {
		return err
	}
	if _, err := retention.Parse(in.Policy); err != nil {
		return err
	}
	t.Name, t.Policy, t.Default = strings.TrimSpace(in.Name), in.Policy, in.Default
	return nil
}

// CreatePolicy stores a validated policy template.
func (a *App) CreatePolicy(ctx context.Context, in PolicyInput) (*backup.PolicyTemplate, error) {
	t := &backup.PolicyTemplate{}
	if err := in.template(t); err != nil {
		return nil, err
	}
	return t, a.Store.CreatePolicy(ctx, t)
}

// UpdatePolicy replaces a template's name, policy and default flag.
func (a *App) UpdatePolicy(ctx context.Context, ref string, in PolicyInput) (*backup.PolicyTemplate, error) {
	t, err := a.Store.GetPolicy(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := in.template(t); err != nil {
		return nil, err
	}
	return t, a.Store.UpdatePolicy(ctx, t)
}

// DeletePolicy deletes a template no job destination uses.
func (a *App) DeletePolicy(ctx context.Context, ref string) error {
	t, err := a.Store.GetPolicy(ctx, ref)
	if err != nil {
		return err
	}
	return a.Store.DeletePolicy(ctx, t.ID)
}

// jobDestinations opens the destinations of a job (one, if destRef is set).
func (a *App) jobDestinations(ctx context.Context, job *backup.Job, destRef string, fn func(jd backup.JobDestination, ep *backup.Endpoint, d dest.Destination) error) error {
	found := false
	for _, jd := range job.Destinations {
		ep, err := a.Store.Destinations().Get(ctx, jd.DestinationID)
		if err != nil {
			return err
		}
		if destRef != "" && destRef != ep.ID && destRef != ep.Name {
			continue
		}
		found = true
		d, err := a.Dests.New(ep)
		if err != nil {
			return err
		}
		err = fn(jd, ep, d)
		d.Close()
		if err != nil {
			return err
		}
	}
	if destRef != "" && !found {
		return fmt.Errorf("%w: job %s has no destination %q", backup.ErrNotFound, job.Name, destRef)
	}
	return nil
}

// PlanRetention is the dry-run: what retention would keep and delete for a
// job, at each destination (or one), with its own policy or with preview.
func (a *App) PlanRetention(ctx context.Context, jobRef, destRef string, preview json.RawMessage) ([]runner.RetentionPlan, error) {
	job, err := a.Store.GetJob(ctx, jobRef)
	if err != nil {
		return nil, err
	}
	policy, err := runner.ParsePolicyPreview(preview)
	if err != nil {
		return nil, err
	}
	return a.plans(ctx, job, destRef, policy)
}

// plans plans retention at a job's destinations (or one).
func (a *App) plans(ctx context.Context, job *backup.Job, destRef string, policy *retention.Policy) ([]runner.RetentionPlan, error) {
	plans := []runner.RetentionPlan{}
	err := a.jobDestinations(ctx, job, destRef, func(jd backup.JobDestination, ep *backup.Endpoint, d dest.Destination) error {
		p, err := a.Runner.PlanRetention(ctx, job, jd, ep.Name, d, policy)
		if err != nil {
			// One unreachable destination must not hide the others' plans.
			p.Error, p.Decisions = err.Error(), nil
		}
		plans = append(plans, p)
		return nil
	})
	return plans, err
}

// PreviewJobRetention is the job form's dry-run: the input checked as it
// would be saved (over the stored job ref, or as a new job with ref ""),
// then what each destination's policy would keep and delete now.
func (a *App) PreviewJobRetention(ctx context.Context, ref string, in JobInput) ([]runner.RetentionPlan, error) {
	j := &backup.Job{}
	if ref != "" {
		stored, err := a.Store.GetJob(ctx, ref)
		if err != nil {
			return nil, err
		}
		j = stored
	}
	if err := a.resolveJob(ctx, in, j); err != nil {
		return nil, err
	}
	return a.plans(ctx, j, "", nil)
}

// RetentionResult reports an applied plan.
type RetentionResult struct {
	runner.RetentionPlan
	Deleted int      `json:"deleted"`
	Errors  []string `json:"errors"`
}

// ApplyRetention applies the job's retention now. force overrides the
// delete-share safety rail, never the locked or newest-backup rules.
func (a *App) ApplyRetention(ctx context.Context, jobRef, destRef string, force bool, logf func(backup.Level, string)) ([]RetentionResult, error) {
	job, err := a.Store.GetJob(ctx, jobRef)
	if err != nil {
		return nil, err
	}
	out := []RetentionResult{}
	err = a.jobDestinations(ctx, job, destRef, func(jd backup.JobDestination, ep *backup.Endpoint, d dest.Destination) error {
		p, err := a.Runner.PlanRetention(ctx, job, jd, ep.Name, d, nil)
		res := RetentionResult{RetentionPlan: p, Errors: []string{}}
		if err != nil {
			res.Error, res.Decisions = err.Error(), nil
			out = append(out, res)
			return nil
		}
		n, errs := runner.ApplyRetention(ctx, d, p, force, func(l backup.Level, msg string) { logf(l, ep.Name+": "+msg) })
		res.Deleted = n
		for _, e := range errs {
			res.Errors = append(res.Errors, e.Error())
		}
		out = append(out, res)
		return nil
	})
	return out, err
}

func (a *App) openDest(ctx context.Context, ref string) (dest.Destination, error) {
	ep, err := a.Store.Destinations().Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	return a.Dests.New(ep)
}

// SetLock locks or unlocks a backup: locked backups are never deleted by
// retention and do not count toward its limits.
func (a *App) SetLock(ctx context.Context, destRef, key string, locked bool) (*backup.Meta, error) {
	d, err := a.openDest(ctx, destRef)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return catalog.SetLock(ctx, d, key, locked, a.Runner.Keyring())
}

// DeleteBackup deletes a backup by hand, locked or not.
func (a *App) DeleteBackup(ctx context.Context, destRef, key string) (err error) {
	defer func() { a.Audit(ctx, "backup.delete", destRef+":"+key, err == nil, errText(err)) }()
	d, err := a.openDest(ctx, destRef)
	if err != nil {
		return err
	}
	defer d.Close()
	if _, err := catalog.ReadMeta(ctx, d, key); err != nil {
		return err
	}
	return catalog.Delete(ctx, d, key)
}

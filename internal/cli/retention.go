package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/backup"
)

func retentionCommands() []command {
	return []command{
		{name: "policy create", args: `-name N -policy '{"mode":"gfs","daily":7,"weekly":4}' [-default]`, summary: "add a retention policy template", run: policySave(false)},
		{name: "policy update", args: "[flags as for create] policy", summary: "change a retention policy template", run: policySave(true)},
		{name: "policy list", args: "", summary: "list retention policy templates", run: policyList},
		{name: "policy delete", args: "policy", summary: "delete a template no job destination uses", run: policyDelete},
		{name: "retention plan", args: "[-destination D] [-policy JSON] [-json] job", summary: "dry-run: what retention would keep and delete, with reasons", run: retentionPlan},
		{name: "retention apply", args: "[-destination D] [-force] job", summary: "apply retention now (-force overrides the delete-share rail)", run: retentionApply},
		{name: "backup lock", args: "-destination D backup", summary: "lock a backup: retention never deletes it", run: backupLock(true)},
		{name: "backup unlock", args: "-destination D backup", summary: "unlock a backup", run: backupLock(false)},
		{name: "backup delete", args: "-destination D backup", summary: "delete a backup by hand (locked or not)", run: backupDelete},
		{name: "backup trust", args: "-destination D [-key-file F] backup", summary: "vouch for a backup this server did not write (older dbackup, another server, edited by hand): checked whole, then its sidecar is authenticated", run: backupTrust},
	}
}

func policySave(update bool) func(context.Context, *env, []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		var in app.PolicyInput
		var policy string
		setup := func(fs *flag.FlagSet) {
			fs.StringVar(&in.Name, "name", "", "template name")
			fs.StringVar(&policy, "policy", "", `policy as JSON: {"mode":"simple","keep":N} or {"mode":"gfs","hourly":H,"daily":D,"weekly":W,"monthly":M,"yearly":Y}`)
			fs.BoolVar(&in.Default, "default", false, "make it the default for job destinations without a policy")
		}
		nargs := 0
		if update {
			nargs = 1
		}
		return e.withApp(ctx, "policy", args, nargs, setup, func(a *app.App, fs *flag.FlagSet) error {
			in.Policy = json.RawMessage(policy)
			var t *backup.PolicyTemplate
			var err error
			if update {
				t, err = a.UpdatePolicy(ctx, fs.Arg(0), in)
			} else {
				t, err = a.CreatePolicy(ctx, in)
			}
			if err != nil {
				return err
			}
			return printJSON(e.stdout, t)
		})
	}
}

func policyList(ctx context.Context, e *env, args []string) error {
	return e.withApp(ctx, "policy list", args, 0, nil, func(a *app.App, _ *flag.FlagSet) error {
		list, err := a.Store.ListPolicies(ctx)
		if err != nil {
			return err
		}
		var rows [][]string
		for _, p := range list {
			def := ""
			if p.Default {
				def = "default"
			}
			rows = append(rows, []string{p.Name, string(p.Policy), def})
		}
		table(e.stdout, "NAME\tPOLICY\t", rows)
		return nil
	})
}

func policyDelete(ctx context.Context, e *env, args []string) error {
	return e.withApp(ctx, "policy delete", args, 1, nil, func(a *app.App, fs *flag.FlagSet) error {
		if err := a.DeletePolicy(ctx, fs.Arg(0)); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "policy %s deleted\n", fs.Arg(0))
		return nil
	})
}

func retentionPlan(ctx context.Context, e *env, args []string) error {
	var destRef, policy string
	var asJSON bool
	setup := func(fs *flag.FlagSet) {
		fs.StringVar(&destRef, "destination", "", "only this destination")
		fs.StringVar(&policy, "policy", "", "preview this policy (JSON) instead of the configured one")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	}
	return e.withApp(ctx, "retention plan", args, 1, setup, func(a *app.App, fs *flag.FlagSet) error {
		plans, err := a.PlanRetention(ctx, fs.Arg(0), destRef, json.RawMessage(policy))
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(e.stdout, plans)
		}
		for _, p := range plans {
			fmt.Fprintf(e.stdout, "%s: %s (%s)\n", p.Destination, p.Policy, p.PolicySource)
			if p.Error != "" {
				fmt.Fprintf(e.stdout, "  cannot plan: %s\n\n", p.Error)
				continue
			}
			var rows [][]string
			for _, d := range p.Decisions {
				verdict := "delete"
				if d.Keep {
					verdict = "keep"
				}
				rows = append(rows, []string{"  " + verdict, d.Time.In(a.Location).Format("2006-01-02 15:04"), d.Key, d.Reason})
			}
			table(e.stdout, "  \tCREATED\tBACKUP\tREASON", rows)
			for _, i := range p.Ignored {
				fmt.Fprintf(e.stdout, "  ignored %s: %s\n", i.Key, i.Reason)
			}
			fmt.Fprintf(e.stdout, "  keep %d, delete %d\n", p.Keep, p.Delete)
			if p.Blocked != "" {
				fmt.Fprintf(e.stdout, "  BLOCKED: %s\n", p.Blocked)
			}
			fmt.Fprintln(e.stdout)
		}
		return nil
	})
}

func retentionApply(ctx context.Context, e *env, args []string) error {
	var destRef string
	var force bool
	setup := func(fs *flag.FlagSet) {
		fs.StringVar(&destRef, "destination", "", "only this destination")
		fs.BoolVar(&force, "force", false, "delete even beyond the retention_max_delete_percent share")
	}
	return e.withApp(ctx, "retention apply", args, 1, setup, func(a *app.App, fs *flag.FlagSet) error {
		res, err := a.ApplyRetention(ctx, fs.Arg(0), destRef, force, func(l backup.Level, msg string) {
			fmt.Fprintf(e.stdout, "%-5s %s\n", l, msg)
		})
		if err != nil {
			return err
		}
		var problems []string
		for _, r := range res {
			fmt.Fprintf(e.stdout, "%s: deleted %d, kept %d\n", r.Destination, r.Deleted, r.Keep)
			if r.Error != "" {
				problems = append(problems, r.Destination+": "+r.Error)
			}
			problems = append(problems, r.Errors...)
		}
		if len(problems) > 0 {
			return exitError{ExitFailed, strings.Join(problems, "; ")}
		}
		return nil
	})
}

func backupLock(locked bool) func(context.Context, *env, []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		var destRef string
		return e.withApp(ctx, "backup lock", args, 1, func(fs *flag.FlagSet) { fs.StringVar(&destRef, "destination", "", "destination name or id") },
			func(a *app.App, fs *flag.FlagSet) error {
				if _, err := a.SetLock(ctx, destRef, fs.Arg(0), locked); err != nil {
					return err
				}
				state := "unlocked"
				if locked {
					state = "locked"
				}
				fmt.Fprintf(e.stdout, "%s %s\n", fs.Arg(0), state)
				return nil
			})
	}
}

func backupDelete(ctx context.Context, e *env, args []string) error {
	var destRef string
	return e.withApp(ctx, "backup delete", args, 1, func(fs *flag.FlagSet) { fs.StringVar(&destRef, "destination", "", "destination name or id") },
		func(a *app.App, fs *flag.FlagSet) error {
			if err := a.DeleteBackup(ctx, destRef, fs.Arg(0)); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s deleted\n", fs.Arg(0))
			return nil
		})
}

func backupTrust(ctx context.Context, e *env, args []string) error {
	var destRef, keyFile string
	return e.withApp(ctx, "backup trust", args, 1, func(fs *flag.FlagSet) {
		fs.StringVar(&destRef, "destination", "", "destination name or id")
		fs.StringVar(&keyFile, "key-file", "", "file with the encryption key (64 hex digits), if no profile has it")
	}, func(a *app.App, fs *flag.FlagSet) error {
		var key []byte
		if keyFile != "" {
			var err error
			if key, err = readKeyFile(keyFile); err != nil {
				return err
			}
		}
		m, err := a.TrustBackup(ctx, destRef, fs.Arg(0), key)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s trusted: checked whole (%d bytes, SHA-256 %s) and its sidecar authenticated\n", fs.Arg(0), m.Size, m.SHA256)
		return nil
	})
}

func settingCommands() []command {
	return []command{
		{name: "setting list", summary: "list settings with their values", run: settingList},
		{name: "setting set", args: "name value", summary: "change a setting", run: settingSet},
	}
}

func settingList(ctx context.Context, e *env, args []string) error {
	return e.withApp(ctx, "setting list", args, 0, nil, func(a *app.App, _ *flag.FlagSet) error {
		list, err := a.Settings(ctx)
		if err != nil {
			return err
		}
		var rows [][]string
		for _, s := range list {
			rows = append(rows, []string{s.Name, s.Value, s.Default, s.Help})
		}
		table(e.stdout, "NAME\tVALUE\tDEFAULT\tMEANING", rows)
		return nil
	})
}

func settingSet(ctx context.Context, e *env, args []string) error {
	return e.withApp(ctx, "setting set", args, 2, nil, func(a *app.App, fs *flag.FlagSet) error {
		if err := a.SetSetting(ctx, fs.Arg(0), fs.Arg(1)); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s = %s\n", fs.Arg(0), fs.Arg(1))
		return nil
	})
}

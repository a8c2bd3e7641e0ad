package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/backup"
)

func jobCommands() []command {
	return []command{
		{name: "job create", args: "-name N -source S -destination D [-destination D2…] [flags]", summary: "add a job", run: jobSave(false)},
		{name: "job update", args: "[flags as for create] job", summary: "change the settings given as flags; the others stay as they are (-profile \"\" turns encryption off)", run: jobSave(true)},
		{name: "job list", args: "[-json]", summary: "list jobs", run: jobList},
		{name: "job show", args: "job", summary: "show a job as JSON", run: jobShow},
		{name: "job delete", args: "job", summary: "delete a job (its backups and history stay)", run: jobDelete},
		{name: "job run", args: "[-lock] job", summary: "run a job now and follow its log", run: jobRun},
		{name: "job next", args: "job", summary: "the next five scheduled runs, in the job's time zone", run: jobNext},
		{name: "job enable", args: "job", summary: "schedule the job again", run: jobEnable(true)},
		{name: "job disable", args: "job", summary: "stop scheduling the job (it can still be run by hand)", run: jobEnable(false)},
		{name: "job recovery", args: "[-json]", summary: "what restore drills proved per job: the newest proven backup, the last measured restore time", run: jobRecovery},
	}
}

func jobFlags(in *app.JobInput, dests, retentions, notifies *stringList, dbs *string, disabled *bool) func(*flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		fs.Var(notifies, "notify", "CHANNEL=OUTCOMES: notify a channel of outcomes, e.g. ops=failed,partial (repeatable)")
		fs.Var(durationFlag{&in.ExpectEvery}, "expect-every", "raise the missed-backup alarm when no backup succeeded for this long, e.g. 26h")
		fs.Var(durationFlag{&in.RemindEvery}, "remind-every", "repeat the missed-backup alarm this often (default 24h)")
		fs.Var(retentions, "retention", `DEST=POLICY: retention at a destination: a template name, or inline JSON such as {"mode":"simple","keep":7} (repeatable)`)
		fs.StringVar(&in.Name, "name", "", "job name (unique)")
		fs.StringVar(&in.Source, "source", "", "source name or id")
		fs.Var(dests, "destination", "destination name or id (repeatable, in upload order)")
		fs.StringVar(dbs, "databases", "", "comma-separated databases; empty = all")
		fs.StringVar(&in.Compression, "compression", "zstd", "none, gzip, zstd or brotli")
		fs.IntVar(&in.CompressionLevel, "level", 0, "compression level; 0 = the algorithm's default (zstd: 1), -1 = adaptive (zstd)")
		fs.StringVar(&in.Profile, "profile", "", "encryption profile name or id; empty = not encrypted")
		fs.StringVar(&in.NamingTemplate, "naming", "", "file name template, default "+backup.DefaultNamingTemplate)
		fs.StringVar(&in.Schedule, "schedule", "", `cron schedule, e.g. "0 3 * * *" or @daily; empty = run by hand only`)
		fs.StringVar(&in.Timezone, "schedule-timezone", "", "IANA time zone of the schedule (default: the scheduler's)")
		fs.BoolVar(&in.CatchUp, "catch-up", false, "run once at start if a scheduled time passed while dbackup was down")
		fs.IntVar(&in.Retries, "retries", 0, "retries of a failed run (0-10)")
		fs.Var(durationFlag{&in.RetryBackoff}, "retry-backoff", "wait before the first retry, doubling each time (default 1m)")
		fs.Var(durationFlag{&in.MaxDuration}, "max-duration", "fail a run that takes longer, e.g. 4h (default: no limit)")
		fs.Var(durationFlag{&in.StallTimeout}, "stall-timeout", "fail a run that moves no data this long (default: the stall_timeout_minutes setting)")
		fs.BoolVar(disabled, "disabled", false, "create the job disabled")
		fs.IntVar(&in.DrillEvery, "drill-every", 0, "restore-drill every Nth successful backup (0: never)")
		fs.StringVar(&in.DrillSchedule, "drill-schedule", "", `cron schedule of drills of the newest backup, e.g. "0 4 * * 0"`)
		fs.StringVar(&in.DrillTarget, "drill-target", "", "scratch source to drill into instead of a throwaway server (required for MongoDB)")
		fs.Var(durationFlag{&in.ProvenWithin}, "proven-within", "recovery point objective: alarm when no backup proven by a drill is this recent, e.g. 26h")
	}
}

func jobSave(update bool) func(context.Context, *env, []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		var in app.JobInput
		var dests, retentions, notifies stringList
		var dbs string
		var disabled bool
		nargs := 0
		if update {
			nargs = 1
		}
		return e.withBackend(ctx, "job", args, nargs, jobFlags(&in, &dests, &retentions, &notifies, &dbs, &disabled), func(b backend, fs *flag.FlagSet) error {
			policies := map[string]string{}
			for _, r := range retentions {
				d, p, ok := strings.Cut(r, "=")
				if !ok {
					return fmt.Errorf("%w: -retention wants DEST=POLICY, got %q", errUsage, r)
				}
				policies[d] = p
			}
			for _, d := range dests {
				jd := app.JobDestInput{Destination: d}
				if p, ok := policies[d]; ok {
					if strings.HasPrefix(strings.TrimSpace(p), "{") {
						jd.Retention = json.RawMessage(p)
					} else {
						jd.Policy = p
					}
					delete(policies, d)
				}
				in.Destinations = append(in.Destinations, jd)
			}
			for d := range policies {
				return fmt.Errorf("%w: -retention names %q, which is not one of the -destination values", errUsage, d)
			}
			for _, n := range notifies {
				ch, outcomes, ok := strings.Cut(n, "=")
				if !ok {
					return fmt.Errorf("%w: -notify wants CHANNEL=OUTCOMES, got %q", errUsage, n)
				}
				in.Notifications = append(in.Notifications, app.JobChannelInput{Channel: ch, Outcomes: strings.Split(outcomes, ",")})
			}
			if dbs != "" {
				in.Databases = strings.Split(dbs, ",")
			}
			enabled := !disabled
			in.Enabled = &enabled
			if update {
				cur, err := b.GetJob(ctx, fs.Arg(0))
				if err != nil {
					return err
				}
				given := map[string]bool{}
				fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
				if given["retention"] && !given["destination"] {
					return fmt.Errorf("%w: -retention needs the job's -destination flags too (they replace its destinations)", errUsage)
				}
				in = onlyGiven(app.InputOf(cur), in, given)
			}
			save := b.CreateJob
			if update {
				save = func(ctx context.Context, in app.JobInput) (*backup.Job, error) {
					return b.UpdateJob(ctx, fs.Arg(0), in)
				}
			}
			j, err := save(ctx, in)
			if err != nil {
				return err
			}
			return printJSON(e.stdout, j)
		})
	}
}

// onlyGiven is cur with the fields of the flags given taken from in: an
// update changes what it names and nothing else.
func onlyGiven(cur, in app.JobInput, given map[string]bool) app.JobInput {
	fields := map[string]func(){
		"name": func() { cur.Name = in.Name }, "source": func() { cur.Source = in.Source },
		"databases": func() { cur.Databases = in.Databases }, "destination": func() { cur.Destinations = in.Destinations },
		"notify": func() { cur.Notifications = in.Notifications }, "compression": func() { cur.Compression = in.Compression },
		"level": func() { cur.CompressionLevel = in.CompressionLevel }, "profile": func() { cur.Profile = in.Profile },
		"naming": func() { cur.NamingTemplate = in.NamingTemplate }, "schedule": func() { cur.Schedule = in.Schedule },
		"schedule-timezone": func() { cur.Timezone = in.Timezone }, "catch-up": func() { cur.CatchUp = in.CatchUp },
		"retries": func() { cur.Retries = in.Retries }, "retry-backoff": func() { cur.RetryBackoff = in.RetryBackoff },
		"max-duration": func() { cur.MaxDuration = in.MaxDuration }, "stall-timeout": func() { cur.StallTimeout = in.StallTimeout },
		"disabled": func() { cur.Enabled = in.Enabled }, "expect-every": func() { cur.ExpectEvery = in.ExpectEvery },
		"remind-every": func() { cur.RemindEvery = in.RemindEvery }, "drill-every": func() { cur.DrillEvery = in.DrillEvery },
		"drill-schedule": func() { cur.DrillSchedule = in.DrillSchedule }, "drill-target": func() { cur.DrillTarget = in.DrillTarget },
		"proven-within": func() { cur.ProvenWithin = in.ProvenWithin },
	}
	for name := range given {
		if set, ok := fields[name]; ok {
			set()
		}
	}
	return cur
}

func jobList(ctx context.Context, e *env, args []string) error {
	var asJSON bool
	return e.withBackend(ctx, "job list", args, 0, func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "print JSON") },
		func(b backend, _ *flag.FlagSet) error {
			jobs, err := b.ListJobs(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.stdout, jobs)
			}
			var rows [][]string
			for _, j := range jobs {
				last, next := "never", "—"
				if j.Last != nil {
					last = string(j.Last.Status) + " " + j.Last.CreatedAt.Local().Format("2006-01-02 15:04")
				}
				if j.Next != nil {
					next = j.Next.Local().Format("2006-01-02 15:04")
				}
				rows = append(rows, []string{j.Name, j.State, string(j.Compression), strings.Join(j.DestNames, ","), j.Schedule, last, next})
			}
			table(e.stdout, "NAME\tSTATE\tCOMPRESSION\tDESTINATIONS\tSCHEDULE\tLAST RUN\tNEXT RUN", rows)
			return nil
		})
}

func jobShow(ctx context.Context, e *env, args []string) error {
	return e.withBackend(ctx, "job show", args, 1, nil, func(b backend, fs *flag.FlagSet) error {
		j, err := b.GetJob(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		return printJSON(e.stdout, j)
	})
}

func jobDelete(ctx context.Context, e *env, args []string) error {
	return e.withBackend(ctx, "job delete", args, 1, nil, func(b backend, fs *flag.FlagSet) error {
		if err := b.DeleteJob(ctx, fs.Arg(0)); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "job %s deleted; its backups and history are kept\n", fs.Arg(0))
		return nil
	})
}

func jobRun(ctx context.Context, e *env, args []string) error {
	var lock bool
	return e.withBackend(ctx, "job run", args, 1, func(fs *flag.FlagSet) { fs.BoolVar(&lock, "lock", false, "lock this backup against retention") },
		func(b backend, fs *flag.FlagSet) error { return b.RunJob(ctx, e.stdout, fs.Arg(0), lock) })
}

// durationFlag sets a backup.Duration from "26h".
type durationFlag struct{ d *backup.Duration }

func (f durationFlag) String() string {
	if f.d == nil {
		return "0s"
	}
	return time.Duration(*f.d).String()
}

func (f durationFlag) Set(v string) error {
	d, err := time.ParseDuration(v)
	*f.d = backup.Duration(d)
	return err
}

func jobNext(ctx context.Context, e *env, args []string) error {
	return e.withBackend(ctx, "job next", args, 1, nil, func(b backend, fs *flag.FlagSet) error {
		n, err := b.JobNextRuns(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		if n.Schedule == "" {
			fmt.Fprintln(e.stdout, "no schedule: the job runs only by hand")
			return nil
		}
		state := ""
		if !n.Enabled {
			state = " (disabled: these runs will not happen until it is enabled)"
		}
		fmt.Fprintf(e.stdout, "%s in %s%s\n", n.Schedule, n.Timezone, state)
		for _, r := range n.Runs {
			fmt.Fprintln(e.stdout, "  "+r.Format("Mon 2006-01-02 15:04 MST"))
		}
		return nil
	})
}

func jobEnable(enabled bool) func(context.Context, *env, []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		return e.withBackend(ctx, "job enable", args, 1, nil, func(b backend, fs *flag.FlagSet) error {
			j, err := b.SetEnabled(ctx, fs.Arg(0), enabled)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "job %s enabled=%v\n", j.Name, j.Enabled)
			return nil
		})
	}
}

func jobRecovery(ctx context.Context, e *env, args []string) error {
	var asJSON bool
	return e.withBackend(ctx, "job recovery", args, 0, func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "print JSON") },
		func(b backend, _ *flag.FlagSet) error {
			list, err := b.Recovery(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.stdout, list)
			}
			var rows [][]string
			for _, r := range list {
				proven, objective, last := "never", "—", "—"
				if r.ProvenAt != nil {
					proven = fmt.Sprintf("%s (%s ago)", r.ProvenAt.Local().Format("2006-01-02 15:04"), time.Since(*r.ProvenAt).Round(time.Minute))
				}
				if r.ProvenWithin > 0 {
					objective = time.Duration(r.ProvenWithin).String()
					if r.Missed {
						objective += " MISSED"
					}
				}
				if d := r.LastDrill; d != nil {
					last = string(d.Status)
					if d.Status == backup.StatusSuccess {
						last += ": " + d.Summary()
					} else if d.Error != "" {
						last += ": " + d.Error
					}
				}
				rows = append(rows, []string{r.JobName, proven, objective, last})
			}
			table(e.stdout, "JOB\tNEWEST PROVEN BACKUP\tOBJECTIVE\tLAST DRILL", rows)
			return nil
		})
}

package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/dbackup/dbackup/internal/app"
)

func configCommands() []command {
	return []command{
		{name: "export", args: "[-o FILE]", summary: "write every source, destination, channel, profile, policy and job as YAML (secrets as references, never values)", run: configExport},
		{name: "apply", args: "-f FILE [-prune] [-dry-run]", summary: "make this installation what a YAML file says, in one transaction; shows the plan; a second apply changes nothing", run: configApply},
	}
}

func configExport(ctx context.Context, e *env, args []string) error {
	var out string
	return e.withApp(ctx, "export", args, 0, func(fs *flag.FlagSet) { fs.StringVar(&out, "o", "", "file to write (default: standard output)") },
		func(a *app.App, _ *flag.FlagSet) error {
			f, err := a.ExportConfig(ctx)
			if err != nil {
				return err
			}
			b, err := app.MarshalConfig(f)
			if err != nil {
				return err
			}
			if out == "" {
				_, err = e.stdout.Write(b)
				return err
			}
			return os.WriteFile(out, b, 0o600)
		})
}

func configApply(ctx context.Context, e *env, args []string) error {
	var file string
	var opt app.ApplyOptions
	setup := func(fs *flag.FlagSet) {
		fs.StringVar(&file, "f", "", "the configuration file (- for standard input)")
		fs.BoolVar(&opt.Prune, "prune", false, "delete the jobs, channels, destinations, sources and policies the file does not name (never profiles)")
		fs.BoolVar(&opt.DryRun, "dry-run", false, "validate and show the plan; change nothing")
	}
	return e.withApp(ctx, "apply", args, 0, setup, func(a *app.App, _ *flag.FlagSet) error {
		if file == "" {
			return fmt.Errorf("%w: -f FILE is required", errUsage)
		}
		var raw []byte
		var err error
		if file == "-" {
			raw, err = io.ReadAll(io.LimitReader(e.stdin, 16<<20))
		} else {
			raw, err = os.ReadFile(file)
		}
		if err != nil {
			return err
		}
		opt.Lookup = e.getenv
		plan, err := a.ApplyConfig(ctx, raw, opt)
		if err != nil {
			return fmt.Errorf("%s: %w; nothing was changed", file, err)
		}
		for _, c := range plan {
			fmt.Fprintln(e.stdout, c)
		}
		switch {
		case len(plan) == 0:
			fmt.Fprintln(e.stdout, "no changes: the installation is what the file says")
		case opt.DryRun:
			fmt.Fprintf(e.stdout, "%d change(s) planned; nothing was changed (-dry-run)\n", len(plan))
		default:
			fmt.Fprintf(e.stdout, "%d change(s) applied\n", len(plan))
		}
		return nil
	})
}

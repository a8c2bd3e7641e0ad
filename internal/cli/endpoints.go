package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strconv"

	"github.com/dbackup/dbackup/internal/app"
)

func endpointCommands(k app.Kind) []command {
	n := string(k)
	return []command{
		{name: n + " create", args: "-name N -type T -config JSON [-secrets-stdin] [-secret-env NAME=VAR]", summary: "add a " + n, run: endpointSave(k, false)},
		{name: n + " update", args: "[flags as for create] " + n, summary: "change a " + n + " (secrets not given are kept)", run: endpointSave(k, true)},
		{name: n + " list", args: "[-json]", summary: "list " + n + "s", run: endpointList(k)},
		{name: n + " show", args: n, summary: "show one " + n + " as JSON (secrets only as \"set\")", run: endpointShow(k)},
		{name: n + " delete", args: n, summary: "delete a " + n + " no job uses", run: endpointDelete(k)},
		{name: n + " test", args: n, summary: "test the connection, writing nothing", run: endpointTest(k)},
	}
}

type endpointFlags struct {
	name, typ, config string
	secretsStdin      bool
	secretEnv         stringList
	scratch           string
}

func (f *endpointFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.name, "name", "", "name")
	fs.StringVar(&f.typ, "type", "", "plugin type")
	fs.StringVar(&f.config, "config", "", `configuration as JSON, e.g. {"host":"db","port":5432}`)
	fs.BoolVar(&f.secretsStdin, "secrets-stdin", false, `read secrets as a JSON object from stdin, e.g. {"password":"..."}`)
	fs.Var(&f.secretEnv, "secret-env", "NAME=ENVVAR: take secret NAME from an environment variable (repeatable)")
	fs.StringVar(&f.scratch, "scratch", "", "sources only: true marks the source as a drill target, whose databases drills create and drop (false unmarks it)")
}

func endpointSave(k app.Kind, update bool) func(context.Context, *env, []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		var f endpointFlags
		nargs := 0
		if update {
			nargs = 1
		}
		return e.withBackend(ctx, string(k), args, nargs, f.register, func(b backend, fs *flag.FlagSet) error {
			secrets, err := e.readSecrets(f.secretsStdin, f.secretEnv)
			if err != nil {
				return err
			}
			in := app.EndpointInput{Name: f.name, Type: f.typ, Secrets: secrets}
			if f.scratch != "" {
				v, err := strconv.ParseBool(f.scratch)
				if err != nil {
					return fmt.Errorf("%w: -scratch wants true or false", errUsage)
				}
				in.Scratch = &v
			}
			if f.config != "" {
				if !json.Valid([]byte(f.config)) {
					return fmt.Errorf("%w: -config is not valid JSON", errUsage)
				}
				in.Config = json.RawMessage(f.config)
			}
			var ep app.EndpointView
			if update {
				ep, err = b.UpdateEndpoint(ctx, k, fs.Arg(0), in)
			} else {
				ep, err = b.CreateEndpoint(ctx, k, in)
			}
			if err != nil {
				return err
			}
			return printJSON(e.stdout, ep)
		})
	}
}

func endpointList(k app.Kind) func(context.Context, *env, []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		var asJSON bool
		setup := func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "print JSON") }
		return e.withBackend(ctx, string(k), args, 0, setup, func(b backend, _ *flag.FlagSet) error {
			views, err := b.ListEndpoints(ctx, k)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, ep := range views {
				rows = append(rows, []string{ep.Name, ep.Type, string(ep.Config), ep.ID})
			}
			if asJSON {
				return printJSON(e.stdout, views)
			}
			table(e.stdout, "NAME\tTYPE\tCONFIG\tID", rows)
			return nil
		})
	}
}

func endpointShow(k app.Kind) func(context.Context, *env, []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		return e.withBackend(ctx, string(k), args, 1, nil, func(b backend, fs *flag.FlagSet) error {
			ep, err := b.GetEndpoint(ctx, k, fs.Arg(0))
			if err != nil {
				return err
			}
			return printJSON(e.stdout, ep)
		})
	}
}

func endpointDelete(k app.Kind) func(context.Context, *env, []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		return e.withBackend(ctx, string(k), args, 1, nil, func(b backend, fs *flag.FlagSet) error {
			if err := b.DeleteEndpoint(ctx, k, fs.Arg(0)); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s %s deleted\n", k, fs.Arg(0))
			return nil
		})
	}
}

func endpointTest(k app.Kind) func(context.Context, *env, []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		var write *bool
		setup := func(fs *flag.FlagSet) {
			if k == app.KindDestination {
				write = fs.Bool("write", false, "also store, read back and remove a probe under .dbackup/")
			}
		}
		return e.withBackend(ctx, string(k), args, 1, setup, func(b backend, fs *flag.FlagSet) error {
			res, err := b.TestEndpoint(ctx, k, fs.Arg(0), write != nil && *write)
			if err != nil {
				return err
			}
			if !res.OK {
				return exitError{ExitFailed, "connection test failed: " + res.Error}
			}
			fmt.Fprint(e.stdout, "ok")
			if res.Version != "" {
				fmt.Fprintf(e.stdout, ": version %s, databases %v", res.Version, res.Databases)
			}
			fmt.Fprintln(e.stdout)
			return nil
		})
	}
}

// Package cli implements the dbackup command line: one file per command
// group, all sharing the flags of internal/config.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/config"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailed  = 1
	ExitUsage   = 2
	ExitPartial = 3
)

// errUsage marks a command-line mistake.
var errUsage = errors.New("usage")

// exitError carries a specific exit code.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

// env is what a command may touch of the outside world.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         config.Env
	process        bool // the command is the whole process (Run), not a test's call
}

type command struct {
	name    string // "job run"
	args    string // synopsis of the arguments
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// commands is the list of every command, built in one place from the
// per-group files.
var commands = func() []command {
	var commands []command
	commands = append(commands, serveCommands()...)
	commands = append(commands, endpointCommands(app.KindSource)...)
	commands = append(commands, endpointCommands(app.KindDestination)...)
	commands = append(commands, endpointCommands(app.KindChannel)...)
	commands = append(commands, notifyCommands()...)
	commands = append(commands, profileCommands()...)
	commands = append(commands, jobCommands()...)
	commands = append(commands, securityCommands()...)
	commands = append(commands, executionCommands()...)
	commands = append(commands, backupCommands()...)
	commands = append(commands, restoreCommands()...)
	commands = append(commands, decryptCommands()...)
	commands = append(commands, retentionCommands()...)
	commands = append(commands, settingCommands()...)
	commands = append(commands, configCommands()...)
	sort.SliceStable(commands, func(i, j int) bool { return commands[i].name < commands[j].name })
	return commands
}()

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv config.Env) int {
	return run(ctx, &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}, args)
}

func run(ctx context.Context, e *env, args []string) int {
	stdout, stderr := e.stdout, e.stderr
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return ExitOK
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintln(stdout, "dbackup", versionString())
		return ExitOK
	}
	for n := min(2, len(args)); n >= 1; n-- {
		name := strings.Join(args[:n], " ")
		for _, c := range commands {
			if c.name == name {
				err := c.run(ctx, e, args[n:])
				return report(stderr, c, err)
			}
		}
	}
	fmt.Fprintf(stderr, "dbackup: unknown command %q\n\n", strings.Join(args[:min(2, len(args))], " "))
	usage(stderr)
	return ExitUsage
}

func report(stderr io.Writer, c command, err error) int {
	var ee exitError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "dbackup %s: %v\nusage: dbackup %s %s\n", c.name, err, c.name, c.args)
		return ExitUsage
	case errors.As(err, &ee):
		if ee.msg != "" {
			fmt.Fprintf(stderr, "dbackup %s: %s\n", c.name, ee.msg)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "dbackup %s: %v\n", c.name, err)
	return ExitFailed
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "dbackup: database backups that happen on time, land safely and restore.")
	fmt.Fprintln(w, "\nUsage: dbackup <command> [flags] [arguments]   (flags come before arguments)")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %s %s\n      %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintln(w, "\nEvery command accepts -data-dir, -database-url, -timezone and the other settings;")
	fmt.Fprintln(w, "each also reads DBACKUP_<NAME> (or DBACKUP_<NAME>_FILE). Run 'dbackup <command> -h' for its flags.")
}

// flags returns a flag set with the process configuration registered.
func (e *env) flags(name string) (*flag.FlagSet, *config.Config, func() error) {
	fs := flag.NewFlagSet("dbackup "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfg, finish := config.Register(fs, e.getenv)
	return fs, cfg, finish
}

// parse parses args and finishes the configuration.
func parse(fs *flag.FlagSet, finish func() error, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return finish()
}

// open opens the app for a command; the caller closes it.
func (e *env) open(ctx context.Context, cfg *config.Config) (*app.App, error) {
	a, err := app.Open(ctx, *cfg, e.logger(cfg))
	if err == nil && e.process {
		a.ManageMemory(ctx)
	}
	return a, err
}

func (e *env) logger(cfg *config.Config) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(e.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(e.stderr, opts))
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table(w io.Writer, header string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// readSecrets reads secrets given as a JSON object on stdin, and NAME=ENV
// pairs naming environment variables. Secrets are never flags' values.
func (e *env) readSecrets(fromStdin bool, fromEnv stringList) (map[string]string, error) {
	out := map[string]string{}
	if fromStdin {
		if err := json.NewDecoder(e.stdin).Decode(&out); err != nil {
			return nil, fmt.Errorf("%w: --secrets-stdin expects a JSON object such as {\"password\": \"...\"}: %v", errUsage, err)
		}
	}
	for _, pair := range fromEnv {
		name, envName, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, fmt.Errorf("%w: --secret-env wants NAME=ENVVAR, got %q", errUsage, pair)
		}
		v, ok := e.getenv(envName)
		if !ok {
			return nil, fmt.Errorf("environment variable %s is not set", envName)
		}
		out[name] = v
	}
	return out, nil
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// Run is the entry point used by cmd/dbackup.
func Run(ctx context.Context) int {
	return run(ctx, &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: config.OSEnv, process: true}, os.Args[1:])
}

// parseArgs parses a command's flags (after setup registered its own)
// and checks there are exactly nargs positional arguments (-1: any); it
// returns -server too.
func (e *env) parseArgs(name string, args []string, nargs int, setup func(fs *flag.FlagSet)) (*flag.FlagSet, *config.Config, string, error) {
	fs, cfg, finish := e.flags(name)
	server := e.serverFlag(fs)
	if setup != nil {
		setup(fs)
	}
	if err := parse(fs, finish, args); err != nil {
		return nil, nil, "", err
	}
	if nargs >= 0 && fs.NArg() != nargs {
		return nil, nil, "", fmt.Errorf("%w: expected %d argument(s), got %d", errUsage, nargs, fs.NArg())
	}
	return fs, cfg, *server, nil
}

// withApp parses args, opens the app and runs fn: for the commands that
// need the store on this host.
func (e *env) withApp(ctx context.Context, name string, args []string, nargs int, setup func(fs *flag.FlagSet),
	fn func(a *app.App, fs *flag.FlagSet) error) error {
	fs, cfg, server, err := e.parseArgs(name, args, nargs, setup)
	if err != nil {
		return err
	}
	if server != "" {
		return fmt.Errorf("%w: this command works on the server's host only (it needs the store and the server key): run it there, without -server and DBACKUP_SERVER", errUsage)
	}
	a, err := e.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	return fn(a, fs)
}

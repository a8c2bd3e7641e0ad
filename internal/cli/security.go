package cli

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/dbackup/dbackup/internal/app"
)

func securityCommands() []command {
	return []command{
		{name: "user create", args: "-name N [-role admin|operator|viewer] (-password-stdin | -password-env VAR)", summary: "add a user (the first admin: -role admin)", run: userCreate},
		{name: "user list", args: "", summary: "list users and their roles", run: userList},
		{name: "user passwd", args: "(-password-stdin | -password-env VAR) user", summary: "set a user's password (ends their sessions)", run: userPasswd},
		{name: "user delete", args: "user", summary: "delete a user (never the last admin)", run: userDelete},
		{name: "apikey create", args: "-name N [-role admin|operator|viewer] [-expires 720h]", summary: "create an API key, shown once", run: keyCreate},
		{name: "apikey list", args: "", summary: "list API keys (never the keys themselves)", run: keyList},
		{name: "apikey revoke", args: "key", summary: "revoke an API key at once", run: keyRevoke},
		{name: "audit list", args: "[-limit N]", summary: "show the audit log, newest first", run: auditList},
		{name: "secrets rotate", args: "", summary: "re-seal every stored secret under a new server key (stop other nodes first)", run: secretsRotate},
	}
}

// passwordFlags read a password from stdin's first line or an environment
// variable, never from the command line.
type passwordFlags struct {
	stdin bool
	env   string
}

func (p *passwordFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&p.stdin, "password-stdin", false, "read the password from the first line of stdin")
	fs.StringVar(&p.env, "password-env", "", "read the password from this environment variable")
}

func (p *passwordFlags) read(e *env) (string, error) {
	switch {
	case p.stdin && p.env == "":
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if err != nil && line == "" {
			return "", fmt.Errorf("%w: -password-stdin: no password on stdin", errUsage)
		}
		return strings.TrimRight(line, "\r\n"), nil
	case p.env != "" && !p.stdin:
		v, ok := e.getenv(p.env)
		if !ok || v == "" {
			return "", fmt.Errorf("%w: environment variable %s is empty", errUsage, p.env)
		}
		return v, nil
	}
	return "", fmt.Errorf("%w: give the password with -password-stdin or -password-env VAR (never on the command line)", errUsage)
}

func userCreate(ctx context.Context, e *env, args []string) error {
	var name, role string
	var pw passwordFlags
	setup := func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "user name")
		fs.StringVar(&role, "role", "viewer", "admin, operator or viewer")
		pw.register(fs)
	}
	return e.withApp(ctx, "user create", args, 0, setup, func(a *app.App, _ *flag.FlagSet) error {
		password, err := pw.read(e)
		if err != nil {
			return err
		}
		u, err := a.CreateUser(ctx, name, role, password)
		if err != nil {
			return err
		}
		return printJSON(e.stdout, u)
	})
}

func userList(ctx context.Context, e *env, args []string) error {
	return e.withApp(ctx, "user list", args, 0, nil, func(a *app.App, _ *flag.FlagSet) error {
		list, err := a.ListUsers(ctx)
		if err != nil {
			return err
		}
		for _, u := range list {
			fmt.Fprintf(e.stdout, "%-20s %-9s created %s\n", u.Name, u.Role, u.CreatedAt.Format(time.RFC3339))
		}
		return nil
	})
}

func userPasswd(ctx context.Context, e *env, args []string) error {
	var pw passwordFlags
	return e.withApp(ctx, "user passwd", args, 1, pw.register, func(a *app.App, fs *flag.FlagSet) error {
		password, err := pw.read(e)
		if err != nil {
			return err
		}
		if err := a.SetPassword(ctx, fs.Arg(0), password); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "password of %s changed; their sessions ended\n", fs.Arg(0))
		return nil
	})
}

func userDelete(ctx context.Context, e *env, args []string) error {
	return e.withApp(ctx, "user delete", args, 1, nil, func(a *app.App, fs *flag.FlagSet) error {
		if err := a.DeleteUser(ctx, fs.Arg(0)); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "user %s deleted\n", fs.Arg(0))
		return nil
	})
}

func keyCreate(ctx context.Context, e *env, args []string) error {
	var name, role string
	var expires time.Duration
	setup := func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "key name")
		fs.StringVar(&role, "role", "viewer", "admin, operator or viewer")
		fs.DurationVar(&expires, "expires", 0, "lifetime, e.g. 720h (0: no expiry)")
	}
	return e.withApp(ctx, "apikey create", args, 0, setup, func(a *app.App, _ *flag.FlagSet) error {
		if expires < 0 {
			return fmt.Errorf("%w: -expires must be positive", errUsage)
		}
		key, k, err := a.CreateAPIKey(ctx, name, role, expires)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, key)
		fmt.Fprintf(e.stderr, "API key %s (%s) created; it is shown once: store it now. Use it as \"Authorization: Bearer <key>\".\n", k.Name, k.Role)
		return nil
	})
}

func keyList(ctx context.Context, e *env, args []string) error {
	return e.withApp(ctx, "apikey list", args, 0, nil, func(a *app.App, _ *flag.FlagSet) error {
		list, err := a.ListAPIKeys(ctx)
		if err != nil {
			return err
		}
		for _, k := range list {
			state := "active"
			switch {
			case k.RevokedAt != nil:
				state = "revoked " + k.RevokedAt.Format(time.RFC3339)
			case k.ExpiresAt != nil && time.Now().After(*k.ExpiresAt):
				state = "expired " + k.ExpiresAt.Format(time.RFC3339)
			case k.ExpiresAt != nil:
				state = "expires " + k.ExpiresAt.Format(time.RFC3339)
			}
			used := "never used"
			if k.LastUsedAt != nil {
				used = "used " + k.LastUsedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(e.stdout, "%-20s %-9s %s, %s\n", k.Name, k.Role, state, used)
		}
		return nil
	})
}

func keyRevoke(ctx context.Context, e *env, args []string) error {
	return e.withApp(ctx, "apikey revoke", args, 1, nil, func(a *app.App, fs *flag.FlagSet) error {
		if err := a.RevokeAPIKey(ctx, fs.Arg(0)); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "API key %s revoked\n", fs.Arg(0))
		return nil
	})
}

func auditList(ctx context.Context, e *env, args []string) error {
	var limit int
	setup := func(fs *flag.FlagSet) { fs.IntVar(&limit, "limit", 50, "entries to show") }
	return e.withApp(ctx, "audit list", args, 0, setup, func(a *app.App, _ *flag.FlagSet) error {
		list, err := a.ListAudit(ctx, limit, 0)
		if err != nil {
			return err
		}
		for _, x := range list {
			ok := "ok"
			if !x.OK {
				ok = "FAILED"
			}
			fmt.Fprintf(e.stdout, "%s %-16s %-15s %-22s %-20s %s %s\n", x.At.Format(time.RFC3339), x.Actor, x.IP, x.Action, x.Target, ok, x.Detail)
		}
		return nil
	})
}

func secretsRotate(ctx context.Context, e *env, args []string) error {
	return e.withApp(ctx, "secrets rotate", args, 0, nil, func(a *app.App, _ *flag.FlagSet) error {
		oldID, newID, n, err := a.RotateServerKey(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "server key %s replaced by %s in %s; %d secrets re-sealed. Back up the new key file; give it to every other node before starting them.\n", oldID, newID, a.Cfg.SecretKeyFile, n)
		return nil
	})
}

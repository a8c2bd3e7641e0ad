package mongodb

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/dbackup/dbackup/internal/source"
	"github.com/dbackup/dbackup/internal/source/proc"
)

// ConfigFile renders the --config file of mongodump and mongorestore that
// carries the password, so that it never appears on a command line.
func ConfigFile(password string) string {
	v := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(password)
	return "password: \"" + v + "\"\n"
}

// connArgs are the connection options both tools take.
func (c *Config) connArgs(configFile string) []string {
	var args []string
	if c.User != "" {
		args = append(args, "--config="+configFile)
	}
	switch {
	case c.SRV:
		args = append(args, "--uri=mongodb+srv://"+c.Host+"/")
	case c.ReplicaSet != "":
		args = append(args, "--host="+c.ReplicaSet+"/"+strings.Join(c.hosts(), ","))
	default:
		h := c.hosts()
		args = append(args, "--host="+strings.Join(h, ","))
	}
	if c.User != "" {
		args = append(args, "--username="+c.User, "--authenticationDatabase="+c.AuthDatabase)
		if c.AuthMechanism != "" {
			args = append(args, "--authenticationMechanism="+c.AuthMechanism)
		}
	}
	if c.TLS {
		args = append(args, "--ssl")
	}
	return args
}

// DumpCommand dumps one database as an archive on stdout.
func DumpCommand(c Config, configFile, password, db string) proc.Cmd {
	args := append(c.connArgs(configFile), "--db="+db, "--archive")
	return proc.Cmd{Path: proc.Binary(c.BinDir, "mongodump"), Args: args, Secrets: proc.Secrets(password)}
}

// RestoreCommand restores an archive read from stdin, database from's
// collections into database target, each named after prefix.
func RestoreCommand(c Config, configFile, password, from, target, prefix string) proc.Cmd {
	args := append(c.connArgs(configFile), "--archive", "--nsInclude="+from+".*")
	if from != target || prefix != "" {
		args = append(args, "--nsFrom="+from+".*", "--nsTo="+target+"."+prefix+"*")
	}
	return proc.Cmd{Path: proc.Binary(c.BinDir, "mongorestore"), Args: args, Secrets: proc.Secrets(password)}
}

func (s *Source) withConfigFile(fn func(path string) error) error {
	return proc.WithSecretFile("dbackup-mongo-*.yaml", ConfigFile(s.password), fn)
}

func (s *Source) toolDump(ctx context.Context, db string, w io.Writer, log *slog.Logger) error {
	return s.withConfigFile(func(cf string) error {
		return source.RunDump(ctx, DumpCommand(s.cfg, cf, s.password, db), db, w, log)
	})
}

// toolRestore feeds an archive of database from to mongorestore.
func (s *Source) toolRestore(ctx context.Context, r io.Reader, from, target, prefix string, log *slog.Logger) error {
	return s.withConfigFile(func(cf string) error {
		cmd := RestoreCommand(s.cfg, cf, s.password, from, target, prefix)
		log.Info("restoring into database " + target + ": " + cmd.String())
		if err := proc.Run(ctx, cmd, r, nil, log); err != nil {
			return fmt.Errorf("restore into database %s: %w", target, err)
		}
		return nil
	})
}

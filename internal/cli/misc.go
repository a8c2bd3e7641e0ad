package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/runner"
	"github.com/dbackup/dbackup/internal/secret"
	"github.com/dbackup/dbackup/internal/store"
)

func profileCommands() []command {
	return []command{
		{name: "profile create", args: "-name N [-import-key-stdin]", summary: "create an encryption profile (new random key, or imported)", run: profileCreate},
		{name: "profile list", args: "", summary: "list encryption profiles with their key ids", run: profileList},
		{name: "profile show", args: "profile", summary: "show a profile as JSON (its key id, never the key)", run: profileShow},
		{name: "profile delete", args: "profile", summary: "delete a profile no job uses", run: profileDelete},
		{name: "profile export-key", args: "profile", summary: "print the profile's key (hex) for safekeeping and `dbackup decrypt`", run: profileExport},
	}
}

func profileCreate(ctx context.Context, e *env, args []string) error {
	var name string
	var importKey bool
	setup := func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "profile name")
		fs.BoolVar(&importKey, "import-key-stdin", false, "read an existing key (64 hex digits) from stdin")
	}
	return e.withBackend(ctx, "profile create", args, 0, setup, func(b backend, _ *flag.FlagSet) error {
		keyHex := ""
		if importKey {
			b, err := io.ReadAll(io.LimitReader(e.stdin, 4096))
			if err != nil {
				return err
			}
			keyHex = strings.TrimSpace(string(b))
		}
		p, err := b.CreateProfile(ctx, name, keyHex)
		if err != nil {
			return err
		}
		if err := printJSON(e.stdout, p); err != nil {
			return err
		}
		fmt.Fprintln(e.stderr, "Keep a copy of this profile's key outside dbackup: `dbackup profile export-key "+p.Name+"`. Without it its backups cannot be decrypted.")
		return nil
	})
}

func profileList(ctx context.Context, e *env, args []string) error {
	return e.withBackend(ctx, "profile list", args, 0, nil, func(b backend, _ *flag.FlagSet) error {
		list, err := b.ListProfiles(ctx)
		if err != nil {
			return err
		}
		var rows [][]string
		for _, p := range list {
			rows = append(rows, []string{p.Name, p.KeyID, p.ID})
		}
		table(e.stdout, "NAME\tKEY ID\tID", rows)
		return nil
	})
}

func profileShow(ctx context.Context, e *env, args []string) error {
	return e.withBackend(ctx, "profile show", args, 1, nil, func(b backend, fs *flag.FlagSet) error {
		p, err := b.GetProfile(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		return printJSON(e.stdout, p)
	})
}

func profileDelete(ctx context.Context, e *env, args []string) error {
	return e.withBackend(ctx, "profile delete", args, 1, nil, func(b backend, fs *flag.FlagSet) error {
		if err := b.DeleteProfile(ctx, fs.Arg(0)); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "profile %s deleted\n", fs.Arg(0))
		return nil
	})
}

func profileExport(ctx context.Context, e *env, args []string) error {
	return e.withApp(ctx, "profile export-key", args, 1, nil, func(a *app.App, fs *flag.FlagSet) error {
		p, err := a.Store.GetProfile(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		// Only a local command with the server key reveals a profile key
		// (there is no API for it); every reveal is audited.
		a.Audit(ctx, "profile.export-key", p.Name, true, "")
		fmt.Fprintf(e.stdout, "%x\n", p.Key)
		return nil
	})
}

func executionCommands() []command {
	return []command{
		{name: "execution list", args: "[-job J] [-status S] [-sort newest|oldest|longest|largest] [-limit N] [-json]", summary: "list executions, newest first unless -sort", run: executionList},
		{name: "execution show", args: "[-json] id", summary: "show an execution with its log", run: executionShow},
		{name: "execution cancel", args: "id", summary: "cancel a queued or running execution (on any node)", run: executionCancel},
	}
}

func executionList(ctx context.Context, e *env, args []string) error {
	var f store.ExecutionFilter
	var status, sort string
	var asJSON bool
	setup := func(fs *flag.FlagSet) {
		fs.StringVar(&f.JobID, "job", "", "only this job")
		fs.StringVar(&status, "status", "", "only this status")
		fs.StringVar(&sort, "sort", "newest", "newest, oldest, longest (duration) or largest (bytes stored) first")
		fs.IntVar(&f.Limit, "limit", 50, "at most this many")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	}
	return e.withBackend(ctx, "execution list", args, 0, setup, func(b backend, _ *flag.FlagSet) error {
		f.Status = backup.Status(status)
		var err error
		if f.Sort, err = store.ParseExecutionSort(sort); err != nil {
			return err
		}
		list, err := b.ListExecutions(ctx, f)
		if err != nil {
			return err
		}
		if asJSON {
			if list == nil {
				list = []*backup.Execution{}
			}
			return printJSON(e.stdout, list)
		}
		var rows [][]string
		for _, x := range list {
			rows = append(rows, []string{x.ID, string(x.Kind), x.JobName, string(x.Status), string(x.Trigger), x.CreatedAt.Local().Format("2006-01-02 15:04:05"), x.BackupName, x.Error})
		}
		table(e.stdout, "ID\tKIND\tJOB\tSTATUS\tTRIGGER\tCREATED\tBACKUP\tERROR", rows)
		return nil
	})
}

func executionShow(ctx context.Context, e *env, args []string) error {
	var asJSON bool
	return e.withBackend(ctx, "execution show", args, 1, func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "print JSON") },
		func(b backend, fs *flag.FlagSet) error {
			x, err := b.GetExecution(ctx, fs.Arg(0))
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.stdout, x)
			}
			for _, l := range x.Logs {
				printLog(e.stdout, l)
			}
			summarize(e.stdout, x.Execution)
			return nil
		})
}

func backupCommands() []command {
	return []command{
		{name: "backup list", args: "-destination D [-job J] [-json]", summary: "list complete backups at a destination", run: backupList},
		{name: "backup verify", args: "-destination D backup", summary: "read a backup whole and check it against its sidecar", run: backupVerify},
		{name: "backup download", args: "-destination D [-plain] -out FILE backup", summary: "copy a backup here (stored bytes, or -plain: decrypted and decompressed), checked against its sidecar", run: backupDownload},
		{name: "backup drill", args: "-destination D [-target S] backup", summary: "restore a backup into a throwaway server (or scratch source S) and compare every table's rows with the backup's counts", run: backupDrill},
	}
}

func backupList(ctx context.Context, e *env, args []string) error {
	var destRef, jobRef string
	var asJSON bool
	setup := func(fs *flag.FlagSet) {
		fs.StringVar(&destRef, "destination", "", "destination name or id")
		fs.StringVar(&jobRef, "job", "", "only this job's backups")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	}
	return e.withBackend(ctx, "backup list", args, 0, setup, func(b backend, _ *flag.FlagSet) error {
		list, err := b.ListBackups(ctx, destRef, jobRef)
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(e.stdout, list)
		}
		var rows [][]string
		for _, b := range list.Backups {
			enc := "no"
			if b.Meta.Encryption != nil {
				enc = "yes"
			}
			drill := "—"
			if d := b.Drill; d != nil {
				drill = string(d.Status)
				if d.EndedAt != nil {
					drill += " " + d.EndedAt.Local().Format("2006-01-02 15:04")
				}
			}
			rows = append(rows, []string{b.Key, b.Meta.JobName, b.Meta.CreatedAt.Local().Format("2006-01-02 15:04:05"), fmt.Sprint(b.Meta.Size),
				string(b.Meta.Compression.Algorithm), enc, strings.Join(b.Meta.Databases, ","), drill})
		}
		table(e.stdout, "BACKUP\tJOB\tCREATED\tSIZE\tCOMPRESSION\tENCRYPTED\tDATABASES\tDRILL", rows)
		for _, p := range list.Problems {
			fmt.Fprintf(e.stderr, "not a backup: %s: %s\n", p.Key, p.Reason)
		}
		return nil
	})
}

func backupVerify(ctx context.Context, e *env, args []string) error {
	var destRef string
	return e.withBackend(ctx, "backup verify", args, 1, func(fs *flag.FlagSet) { fs.StringVar(&destRef, "destination", "", "destination name or id") },
		func(b backend, fs *flag.FlagSet) error {
			m, err := b.VerifyBackup(ctx, destRef, fs.Arg(0))
			if err != nil {
				return err
			}
			how := "size and SHA-256 match the sidecar"
			if m.Encryption != nil {
				how += "; every chunk authenticated"
			}
			fmt.Fprintf(e.stdout, "ok: %s: %s\n", fs.Arg(0), how)
			return nil
		})
}

// backupDrill runs a restore drill of one backup here and follows its log.
func backupDrill(ctx context.Context, e *env, args []string) error {
	var req app.DrillRequest
	setup := func(fs *flag.FlagSet) {
		fs.StringVar(&req.Destination, "destination", "", "destination name or id")
		fs.StringVar(&req.Target, "target", "", "scratch source to restore into (default: the job's drill target, else a throwaway server)")
	}
	return e.withBackend(ctx, "backup drill", args, 1, setup, func(b backend, fs *flag.FlagSet) error {
		req.Key = fs.Arg(0)
		return b.Drill(ctx, e.stdout, req)
	})
}

// backupDownload writes a backup to a file, complete or not at all.
func backupDownload(ctx context.Context, e *env, args []string) error {
	var destRef, out string
	var plain bool
	setup := func(fs *flag.FlagSet) {
		fs.StringVar(&destRef, "destination", "", "destination name or id")
		fs.StringVar(&out, "out", "", "file to write (under a temporary name, renamed when complete and checked)")
		fs.BoolVar(&plain, "plain", false, "decrypt with the profile's key and decompress: the dump itself")
	}
	return e.withBackend(ctx, "backup download", args, 1, setup, func(b backend, fs *flag.FlagSet) error {
		if out == "" {
			return fmt.Errorf("%w: -out FILE is required", errUsage)
		}
		dl, err := b.Download(ctx, destRef, fs.Arg(0), plain)
		if err != nil {
			return err
		}
		defer dl.Close()
		if err := writeAtomically(out, dl); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "ok: %s → %s\n", fs.Arg(0), out)
		return nil
	})
}

func restoreCommands() []command {
	return []command{{name: "restore", args: "-destination D -backup KEY -source S [-db FROM=TO…] [-overwrite [-drop-replaced]]", summary: "verify a backup, then restore it into a database server", run: restoreRun}}
}

func restoreRun(ctx context.Context, e *env, args []string) error {
	var req runner.RestoreRequest
	var dbs stringList
	var keyFile string
	setup := func(fs *flag.FlagSet) {
		fs.StringVar(&req.Destination, "destination", "", "destination holding the backup")
		fs.StringVar(&req.Key, "backup", "", "the backup's key, as `backup list` shows it")
		fs.StringVar(&req.Source, "source", "", "source (server) to restore into")
		fs.Var(&dbs, "db", "FROM=TO: restore database FROM as TO; repeat to select several; none = all under their names")
		fs.BoolVar(&req.Overwrite, "overwrite", false, "replace a database that already holds something (the restore is swapped in once complete; the old one is kept as <name>_replaced_<time>)")
		fs.BoolVar(&req.DropReplaced, "drop-replaced", false, "with -overwrite, drop the replaced database instead of keeping it")
		fs.BoolVar(&req.Force, "force", false, "restore a backup from a newer major version than the target server")
		fs.StringVar(&req.Profile, "profile", "", "encryption profile to use instead of the one in the sidecar")
		fs.StringVar(&keyFile, "key-file", "", "file with the encryption key (64 hex digits), if no profile has it")
	}
	return e.withBackend(ctx, "restore", args, 0, setup, func(b backend, _ *flag.FlagSet) error {
		if req.Destination == "" || req.Key == "" || req.Source == "" {
			return fmt.Errorf("%w: -destination, -backup and -source are required", errUsage)
		}
		if len(dbs) > 0 {
			req.Targets = map[string]string{}
			for _, d := range dbs {
				from, to, ok := strings.Cut(d, "=")
				if !ok {
					to = from
				}
				req.Targets[from] = to
			}
		}
		if keyFile != "" {
			k, err := readKeyFile(keyFile)
			if err != nil {
				return err
			}
			req.MasterKey = k
		}
		return b.Restore(ctx, e.stdout, req)
	})
}

func readKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := secret.ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
}

func executionCancel(ctx context.Context, e *env, args []string) error {
	return e.withBackend(ctx, "execution cancel", args, 1, nil, func(b backend, fs *flag.FlagSet) error {
		x, err := b.Cancel(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		if x.Status == backup.StatusCancelled {
			fmt.Fprintf(e.stdout, "execution %s cancelled\n", x.ID)
		} else {
			fmt.Fprintf(e.stdout, "cancellation of execution %s requested; the node running it stops it within seconds\n", x.ID)
		}
		return nil
	})
}

package cli

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/dbackup/dbackup/internal/api"
	"github.com/dbackup/dbackup/internal/auth"
	"github.com/dbackup/dbackup/internal/config"
	"github.com/dbackup/dbackup/internal/httpsec"
	"github.com/dbackup/dbackup/internal/version"
	"github.com/dbackup/dbackup/internal/web"
)

func serveCommands() []command {
	return []command{{name: "serve", summary: "run the service: web UI, JSON API and backups", run: runServe}}
}

func versionString() string { return version.Version }

// envTrue reads a yes/no environment variable: 1, true, yes or on.
func envTrue(getenv config.Env, name string) bool {
	v, _ := getenv(name)
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

func runServe(ctx context.Context, e *env, args []string) error {
	fs, cfg, finish := e.flags("serve")
	pprofOn := fs.Bool("pprof", e.getenv != nil && envTrue(e.getenv, "DBACKUP_PPROF"), "serve Go's profiles at /debug/pprof/ to administrators (env DBACKUP_PPROF=1)")
	if err := parse(fs, finish, args); err != nil {
		return err
	}
	a, err := e.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	log := a.Log
	log.Info("dbackup starting", "version", version.Version, "data_dir", cfg.DataDir, "metadata", storeName(cfg.DatabaseURL), "timezone", cfg.Timezone)
	if !strings.HasPrefix(a.KeyInfo, "created") { // a new key was announced by Open
		log.Info(a.KeyInfo)
	}
	if err := a.Recover(ctx); err != nil {
		return err
	}
	go a.WatchMissed(ctx, time.Minute)
	go a.WatchLeftovers(ctx, time.Minute)
	a.Serve(ctx)
	defer a.StopServing()
	webH, err := web.New(a)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	apiH := api.New(a)
	mux.Handle("/api/", apiH)
	mux.Handle("/metrics", apiH.Metrics())
	mux.Handle("/", webH)
	if *pprofOn {
		// Administrators only: profiles show what the process does, and a
		// CPU profile costs while it runs.
		mux.Handle("/debug/pprof/", apiH.Guard(auth.Administer, pprof.Index))
		mux.Handle("/debug/pprof/cmdline", apiH.Guard(auth.Administer, pprof.Cmdline))
		mux.Handle("/debug/pprof/profile", apiH.Guard(auth.Administer, pprof.Profile))
		mux.Handle("/debug/pprof/symbol", apiH.Guard(auth.Administer, pprof.Symbol))
		mux.Handle("/debug/pprof/trace", apiH.Guard(auth.Administer, pprof.Trace))
		log.Warn("profiles are served to administrators at /debug/pprof/ (-pprof)")
	}
	srv := httpsec.NewServer(mux, cfg.TLSCert != "")
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	log.Info("listening", "url", scheme+"://"+ln.Addr().String())
	if need, err := a.NeedsSetup(ctx); err == nil && need {
		log.Warn("no user exists yet: open " + scheme + "://" + ln.Addr().String() + "/setup to create the first administrator, or run `dbackup user create -role admin -name NAME -password-stdin`")
	}
	errc := make(chan error, 1)
	go func() {
		if cfg.TLSCert != "" {
			errc <- srv.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey)
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// storeName describes the metadata store without its credentials.
func storeName(url string) string {
	if len(url) > 11 && (url[:11] == "postgres://" || (len(url) > 13 && url[:13] == "postgresql://")) {
		return "postgresql"
	}
	return "sqlite " + url
}

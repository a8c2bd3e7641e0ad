package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
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
	return []command{
		{name: "serve", summary: "run the service: web UI, JSON API and backups", run: runServe},
		{name: "health", args: "[-url URL]", summary: "exit 0 if the service on -listen (or URL) answers healthy (a container's HEALTHCHECK)", run: runHealth},
	}
}

// runHealth asks a running service whether it is healthy: its store
// answers. The URL defaults to the health endpoint on -listen, reached
// over loopback when it listens on every address.
func runHealth(ctx context.Context, e *env, args []string) error {
	fs, cfg, finish := e.flags("health")
	url := fs.String("url", "", "the health endpoint; default http(s)://<listen>/api/v1/health")
	if err := parse(fs, finish, args); err != nil {
		return err
	}
	if *url == "" {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return fmt.Errorf("listen %q: %v", cfg.Listen, err)
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = "127.0.0.1"
		}
		scheme := "http"
		if cfg.TLSCert != "" {
			scheme = "https"
		}
		*url = scheme + "://" + net.JoinHostPort(host, port) + "/api/v1/health"
	}
	client := &http.Client{Timeout: 5 * time.Second}
	if cfg.TLSCert != "" {
		// Its own certificate may not name the loopback address.
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // a liveness probe of itself
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	resp, err := client.Do(req)
	if err != nil {
		return exitError{ExitFailed, "unhealthy: " + err.Error()}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return exitError{ExitFailed, fmt.Sprintf("unhealthy: %s: %s", resp.Status, strings.TrimSpace(string(body)))}
	}
	fmt.Fprintln(e.stdout, strings.TrimSpace(string(body)))
	return nil
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

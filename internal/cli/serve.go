package cli

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/dbackup/dbackup/internal/api"
	"github.com/dbackup/dbackup/internal/httpsec"
	"github.com/dbackup/dbackup/internal/version"
	"github.com/dbackup/dbackup/internal/web"
)

func serveCommands() []command {
	return []command{{name: "serve", summary: "run the service: web UI, JSON API and backups", run: runServe}}
}

func versionString() string { return version.Version }

func runServe(ctx context.Context, e *env, args []string) error {
	fs, cfg, finish := e.flags("serve")
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
	mux.Handle("/api/", api.New(a))
	mux.Handle("/", webH)
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

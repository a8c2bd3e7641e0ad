// Package config reads the process configuration from flags and DBACKUP_*
// environment variables (each also as _FILE, naming a file that holds the
// value). It returns a value; there is no global configuration.
package config

import (
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config is the process configuration.
type Config struct {
	DataDir       string        // DBACKUP_DATA_DIR, default ./data
	DatabaseURL   string        // DBACKUP_DATABASE_URL: postgres://… or a SQLite path; default <data>/dbackup.db
	SecretKey     string        // DBACKUP_SECRET_KEY: 64 hex digits; default: the key file
	SecretKeyFile string        // DBACKUP_SECRET_KEY_FILE: the key file, created if missing; default <data>/server.key
	Listen        string        // DBACKUP_LISTEN, default 127.0.0.1:8080
	Timezone      string        // DBACKUP_TIMEZONE: IANA name for backup names, default UTC
	LogLevel      string        // DBACKUP_LOG_LEVEL: debug, info, warn, error
	LogFormat     string        // DBACKUP_LOG_FORMAT: text or json
	NodeID        string        // DBACKUP_NODE_ID: this node's name among several; default the host name
	StaleAfter    time.Duration // DBACKUP_STALE_AFTER: a node silent this long has lost its runs
	TLSCert       string        // DBACKUP_TLS_CERT: serve HTTPS with this certificate file
	TLSKey        string        // DBACKUP_TLS_KEY: and this key file
	// TrustedProxies (DBACKUP_TRUSTED_PROXIES, comma-separated CIDRs) may
	// say who the client is (X-Forwarded-For) and that it used https.
	TrustedProxies []*net.IPNet
	// ToolDirs (DBACKUP_TOOL_DIRS, separated by ":" or ",") are the only
	// directories whose programs a source may be set to run (bin_dir,
	// server_binary): choosing a program to run is the host's decision,
	// not the API's. Empty: only the tools found on PATH.
	ToolDirs []string
	// DrillDir (DBACKUP_DRILL_DIR) is where drills start their throwaway
	// servers, one private directory each; default: the temporary directory.
	DrillDir string
	// MetricsToken (DBACKUP_METRICS_TOKEN or DBACKUP_METRICS_TOKEN_FILE)
	// is the bearer token a Prometheus scraper sends for /metrics; empty:
	// /metrics is for administrators (an admin API key).
	MetricsToken string
}

// Env reads environment variables; tests pass a map.
type Env func(string) (string, bool)

// lookup returns NAME, or the content of the file named by NAME_FILE.
func lookup(env Env, name string) (string, bool, error) {
	if v, ok := env(name); ok && v != "" {
		return v, true, nil
	}
	if path, ok := env(name + "_FILE"); ok && path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", false, fmt.Errorf("%s_FILE: %w", name, err)
		}
		return strings.TrimSpace(string(b)), true, nil
	}
	return "", false, nil
}

// Register adds the common flags to fs, with defaults from the environment.
// The returned function finishes the configuration after fs.Parse.
func Register(fs *flag.FlagSet, env Env) (*Config, func() error) {
	c := &Config{}
	var errs []error
	str := func(p *string, flagName, envName, def, usage string) {
		v, ok, err := lookup(env, envName)
		if err != nil {
			errs = append(errs, err)
		}
		if !ok {
			v = def
		}
		fs.StringVar(p, flagName, v, usage+" (env "+envName+")")
	}
	str(&c.DataDir, "data-dir", "DBACKUP_DATA_DIR", "data", "directory for the metadata database and the server key")
	str(&c.DatabaseURL, "database-url", "DBACKUP_DATABASE_URL", "", "postgres:// URL or SQLite file; default <data-dir>/dbackup.db")
	str(&c.SecretKeyFile, "secret-key-file", "DBACKUP_SECRET_KEY_FILE", "", "server key file, created (mode 0600) if missing; default <data-dir>/server.key")
	str(&c.Listen, "listen", "DBACKUP_LISTEN", "127.0.0.1:8080", "HTTP listen address")
	str(&c.Timezone, "timezone", "DBACKUP_TIMEZONE", "UTC", "IANA time zone for backup names")
	str(&c.LogLevel, "log-level", "DBACKUP_LOG_LEVEL", "info", "debug, info, warn or error")
	str(&c.LogFormat, "log-format", "DBACKUP_LOG_FORMAT", "text", "text or json")
	host, _ := os.Hostname()
	str(&c.NodeID, "node-id", "DBACKUP_NODE_ID", host, "this node's name when several share a PostgreSQL store")
	str(&c.TLSCert, "tls-cert", "DBACKUP_TLS_CERT", "", "serve HTTPS with this certificate (PEM) file")
	str(&c.TLSKey, "tls-key", "DBACKUP_TLS_KEY", "", "the private key (PEM) file of -tls-cert")
	var proxies string
	str(&proxies, "trusted-proxies", "DBACKUP_TRUSTED_PROXIES", "", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For/-Proto are believed")
	var toolDirs string
	str(&toolDirs, "tool-dirs", "DBACKUP_TOOL_DIRS", "", "directories (separated by : or ,) whose dump tools a source may use (bin_dir, server_binary); empty: PATH only")
	str(&c.DrillDir, "drill-dir", "DBACKUP_DRILL_DIR", "", "directory for the throwaway servers of restore drills (needs room for about twice a dump); default: the temporary directory")
	var stale string
	str(&stale, "stale-after", "DBACKUP_STALE_AFTER", "30s", "a node that stops heartbeating this long has its runs failed and retried elsewhere")
	// The key itself is never a flag: a flag would show on the command line.
	if v, ok := env("DBACKUP_SECRET_KEY"); ok {
		c.SecretKey = v
	}
	if v, ok, err := lookup(env, "DBACKUP_METRICS_TOKEN"); err != nil {
		errs = append(errs, err)
	} else if ok {
		c.MetricsToken = v
	}
	return c, func() error {
		if len(errs) > 0 {
			return errs[0]
		}
		if c.DatabaseURL == "" {
			c.DatabaseURL = filepath.Join(c.DataDir, "dbackup.db")
		}
		if c.SecretKeyFile == "" {
			c.SecretKeyFile = filepath.Join(c.DataDir, "server.key")
		}
		if _, err := time.LoadLocation(c.Timezone); err != nil {
			return fmt.Errorf("timezone %q: %w", c.Timezone, err)
		}
		d, err := time.ParseDuration(stale)
		if err != nil || d < time.Second {
			return fmt.Errorf("stale-after %q: want a duration of at least 1s", stale)
		}
		c.StaleAfter = d
		if (c.TLSCert == "") != (c.TLSKey == "") {
			return fmt.Errorf("-tls-cert and -tls-key go together")
		}
		for _, d := range strings.FieldsFunc(toolDirs, func(r rune) bool { return r == ':' || r == ',' }) {
			if d = strings.TrimSpace(d); !filepath.IsAbs(d) {
				return fmt.Errorf("tool-dirs: %q is not an absolute directory", d)
			}
			c.ToolDirs = append(c.ToolDirs, filepath.Clean(d))
		}
		if c.DrillDir != "" && !filepath.IsAbs(c.DrillDir) {
			return fmt.Errorf("drill-dir: %q is not an absolute directory", c.DrillDir)
		}
		for _, p := range strings.Split(proxies, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			if !strings.Contains(p, "/") {
				if strings.Contains(p, ":") {
					p += "/128"
				} else {
					p += "/32"
				}
			}
			_, n, err := net.ParseCIDR(p)
			if err != nil {
				return fmt.Errorf("trusted-proxies: %q is not an address or CIDR", p)
			}
			c.TrustedProxies = append(c.TrustedProxies, n)
		}
		return nil
	}
}

// OSEnv reads the real environment.
func OSEnv(name string) (string, bool) { return os.LookupEnv(name) }

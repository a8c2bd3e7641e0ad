// Package mongodb backs up MongoDB. By default it needs no MongoDB tools:
// it reads every collection with the official Go driver and writes the
// directory layout mongorestore reads (<db>/<coll>.metadata.json with the
// options and indexes, then <db>/<coll>.bson with the documents) as a tar,
// and restores that layout natively, documents first, then indexes, under any
// database name. Where mongodump is installed, a source may use it instead
// (tool "mongodump": its archive format, the password in a 0600 --config
// file, never on the command line).
package mongodb

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/plugin"
	"github.com/dbackup/dbackup/internal/source"
)

// Type is the source type name.
const Type = "mongodb"

// The formats a MongoDB backup can have (besides "tar" for several
// databases, each in one of these).
const (
	// FormatTar is one database in mongorestore's directory layout, as a tar.
	FormatTar = "mongo_tar"
	// FormatArchive is one database as a mongodump --archive stream.
	FormatArchive = "mongo_archive"
)

// Tools a source can use.
const (
	ToolNative    = "native"
	ToolMongodump = "mongodump"
)

// Config is a MongoDB server, replica set or SRV name. The password is a
// secret.
type Config struct {
	// Host is one host, or a comma-separated seed list of host[:port].
	Host string `json:"host" help:"one host, or a comma-separated seed list of host:port"`
	Port int    `json:"port" help:"default 27017"`
	// SRV resolves Host as a mongodb+srv:// name.
	SRV        bool   `json:"srv,omitempty" help:"resolve the host as a mongodb+srv:// name"`
	ReplicaSet string `json:"replica_set,omitempty"`
	User       string `json:"user,omitempty"`
	// AuthDatabase holds the user (default "admin").
	AuthDatabase string `json:"auth_database,omitempty" help:"database holding the user (default admin)"`
	// AuthMechanism: empty (negotiated), SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN.
	AuthMechanism string `json:"auth_mechanism,omitempty" choices:"|SCRAM-SHA-256|SCRAM-SHA-1|PLAIN" help:"empty: negotiated"`
	TLS           bool   `json:"tls,omitempty"`
	// Tool is "native" (default) or "mongodump".
	Tool   string `json:"tool,omitempty" choices:"|native|mongodump" help:"default native"`
	BinDir string `json:"bin_dir,omitempty" host:"dir" help:"directory of mongodump/mongorestore, one of the server's tool directories (empty: PATH)"`
}

// systemDatabases are never part of "all databases".
var systemDatabases = map[string]bool{"admin": true, "config": true, "local": true}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if strings.TrimSpace(c.Host) == "" {
		return fmt.Errorf("%w: host is required", backup.ErrInvalid)
	}
	if strings.Contains(c.Host, "://") || strings.Contains(c.Host, "@") {
		return fmt.Errorf("%w: host is a host name or a seed list, not a URI (put the password in the secret)", backup.ErrInvalid)
	}
	if c.Port == 0 {
		c.Port = 27017
	}
	if c.AuthDatabase == "" {
		c.AuthDatabase = "admin"
	}
	switch c.AuthMechanism {
	case "", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN":
	default:
		return fmt.Errorf("%w: auth_mechanism %q (want SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN)", backup.ErrInvalid, c.AuthMechanism)
	}
	switch c.Tool {
	case "":
		c.Tool = ToolNative
	case ToolNative, ToolMongodump:
	default:
		return fmt.Errorf("%w: tool %q (want native or mongodump)", backup.ErrInvalid, c.Tool)
	}
	if c.SRV && strings.Contains(c.Host, ",") {
		return fmt.Errorf("%w: an SRV host is one name, not a seed list", backup.ErrInvalid)
	}
	return nil
}

// hosts returns the seed list with ports.
func (c *Config) hosts() []string {
	var out []string
	for _, h := range strings.Split(c.Host, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(h, strconv.Itoa(c.Port))
		}
		out = append(out, h)
	}
	return out
}

func (c *Config) where() string {
	if c.SRV {
		return "mongodb+srv://" + c.Host
	}
	return strings.Join(c.hosts(), ",")
}

// Source is one MongoDB deployment.
type Source struct {
	cfg      Config
	password string
}

var _ source.Source = (*Source)(nil)

// Factory registers the MongoDB source.
var Factory = plugin.Typed(Type, "MongoDB", []string{"password"}, func(c Config, secrets map[string]string) (source.Source, error) {
	return New(c, secrets["password"])
})

// New validates c and returns the source.
func New(c Config, password string) (*Source, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Source{cfg: c, password: password}, nil
}

// clientOptions build the driver's options; the password goes into the
// credential, never into a URI string.
func (s *Source) clientOptions() *options.ClientOptions {
	o := options.Client().SetAppName("dbackup").
		SetServerSelectionTimeout(15 * time.Second).SetConnectTimeout(15 * time.Second)
	if s.cfg.SRV {
		o.ApplyURI("mongodb+srv://" + s.cfg.Host + "/")
	} else {
		hosts := s.cfg.hosts()
		o.SetHosts(hosts)
		if len(hosts) == 1 && s.cfg.ReplicaSet == "" {
			o.SetDirect(true)
		}
	}
	if s.cfg.ReplicaSet != "" {
		o.SetReplicaSet(s.cfg.ReplicaSet)
	}
	if s.cfg.User != "" {
		o.SetAuth(options.Credential{Username: s.cfg.User, Password: s.password,
			AuthSource: s.cfg.AuthDatabase, AuthMechanism: s.cfg.AuthMechanism})
	}
	if s.cfg.TLS {
		o.SetTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12})
	}
	return o
}

// connect opens a client and proves it can authenticate.
func (s *Source) connect(ctx context.Context) (*mongo.Client, error) {
	c, err := mongo.Connect(s.clientOptions())
	if err != nil {
		return nil, s.explain(err)
	}
	if err := c.Ping(ctx, nil); err != nil {
		closeQuickly(ctx, c.Disconnect)
		return nil, s.explain(err)
	}
	return c, nil
}

func (s *Source) with(ctx context.Context, fn func(c *mongo.Client) error) error {
	c, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer closeQuickly(ctx, c.Disconnect)
	return fn(c)
}

// closeQuickly releases a cursor or client: a server that went away must
// not hold the caller for a whole server selection timeout.
func closeQuickly(ctx context.Context, close func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	close(ctx)
}

// explain turns driver errors into what the user must fix.
func (s *Source) explain(err error) error {
	msg := strings.ToLower(err.Error())
	var se mongo.ServerError
	switch {
	case strings.Contains(msg, "authentication failed") || strings.Contains(msg, "auth error") ||
		(errors.As(err, &se) && se.HasErrorCode(18)):
		return fmt.Errorf("authentication failed for user %q at %s: wrong password", s.cfg.User, s.cfg.where())
	case mongo.IsNetworkError(err) || mongo.IsTimeout(err) || strings.Contains(msg, "server selection") ||
		strings.Contains(msg, "connection refused") || strings.Contains(msg, "no such host"):
		return fmt.Errorf("cannot reach mongodb at %s: %w", s.cfg.where(), err)
	}
	return fmt.Errorf("mongodb %s: %w", s.cfg.where(), err)
}

// Check connects and authenticates.
func (s *Source) Check(ctx context.Context) error {
	return s.with(ctx, func(*mongo.Client) error { return nil })
}

// Version returns the server version from buildInfo, e.g. "7.0.14".
func (s *Source) Version(ctx context.Context) (string, error) {
	var v string
	err := s.with(ctx, func(c *mongo.Client) error {
		var err error
		v, err = serverVersion(ctx, c)
		return err
	})
	return v, err
}

func serverVersion(ctx context.Context, c *mongo.Client) (string, error) {
	var bi struct {
		Version string `bson:"version"`
	}
	if err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&bi); err != nil {
		return "", fmt.Errorf("buildInfo: %w", err)
	}
	return bi.Version, nil
}

// ListDatabases lists user databases (admin, config and local excluded).
func (s *Source) ListDatabases(ctx context.Context) ([]string, error) {
	var out []string
	err := s.with(ctx, func(c *mongo.Client) error {
		names, err := c.ListDatabaseNames(ctx, bson.D{})
		if err != nil {
			return s.explain(err)
		}
		for _, n := range names {
			if !systemDatabases[n] {
				out = append(out, n)
			}
		}
		slices.Sort(out)
		return nil
	})
	return out, err
}

// Plan resolves the databases; one is a mongo_tar (or a mongodump archive),
// several a tar of them.
func (s *Source) Plan(ctx context.Context, dbs []string) (source.Plan, error) {
	all, err := s.ListDatabases(ctx)
	if err != nil {
		return source.Plan{}, err
	}
	if dbs, err = source.Resolve(all, dbs, s.cfg.where()); err != nil {
		return source.Plan{}, err
	}
	v, err := s.Version(ctx)
	if err != nil {
		return source.Plan{}, err
	}
	format, ext := s.single()
	p := source.Plan{Databases: dbs, Format: format, Ext: ext, EngineVersion: v}
	if len(dbs) > 1 {
		p.Format, p.Ext = "tar", "tar"
	}
	return p, nil
}

// single is the format and extension of one database's dump.
func (s *Source) single() (format, ext string) {
	if s.cfg.Tool == ToolMongodump {
		return FormatArchive, "archive"
	}
	return FormatTar, "tar"
}

// Dump writes one database in the source's format, or several in a tar.
func (s *Source) Dump(ctx context.Context, p source.Plan, w io.Writer, log *slog.Logger) error {
	format, ext := s.single()
	if p.Format == format {
		return s.dumpOne(ctx, p.Databases[0], w, log)
	}
	return source.DumpMany(ctx, w, Type, p, ext, format, func(ctx context.Context, db string, w io.Writer) error {
		return s.dumpOne(ctx, db, w, log)
	})
}

func (s *Source) dumpOne(ctx context.Context, db string, w io.Writer, log *slog.Logger) error {
	if s.cfg.Tool == ToolMongodump {
		return s.toolDump(ctx, db, w, log)
	}
	return s.with(ctx, func(c *mongo.Client) error { return dumpDatabase(ctx, c.Database(db), w, log) })
}

// Restore restores one database's dump or a tar of several. What each
// database's dump is, it says itself: a mongo_tar is restored natively, a
// mongodump archive with mongorestore.
func (s *Source) Restore(ctx context.Context, format string, r io.Reader, opts source.RestoreOptions, log *slog.Logger) error {
	single := format
	switch format {
	case "tar":
		single = FormatTar // each database's own format is sniffed
	case FormatTar, FormatArchive:
	default:
		return fmt.Errorf("%w: mongodb cannot restore format %q", backup.ErrUnsupported, format)
	}
	return source.RestoreFormat(ctx, format, single, Type, r, opts, log, func(ctx context.Context, r io.Reader, from, target string) error {
		return source.RestoreSwapped(ctx, s, r, from, target, opts, log)
	})
}

// archiveMagic starts every mongodump archive (0x8199e26d, little-endian).
var archiveMagic = []byte{0x6d, 0xe2, 0x99, 0x81}

// Close releases nothing: clients are opened per call.
func (s *Source) Close() error { return nil }

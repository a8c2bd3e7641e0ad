// Package ferrettest runs an embedded FerretDB, which speaks MongoDB's wire
// protocol, for tests: MongoDB itself cannot be installed on these machines.
// FerretDB stores its data in a fresh database of the PostgreSQL test server
// and checks passwords against it, so the password-checked role of
// scripts/services.sh is a MongoDB user with a real password here.
package ferrettest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

// The MongoDB user of the embedded server. FerretDB 1.x takes PLAIN.
const (
	User      = "dbackup_pw"
	Password  = "dbackup-test-pw"
	Mechanism = "PLAIN"
)

// Server is a running FerretDB.
type Server struct {
	Host string
	Port int
	stop func()
}

// Stop stops the server (also done at cleanup); clients see it gone.
func (s *Server) Stop() { s.stop() }

// Start starts FerretDB on a free loopback port.
func Start(t testing.TB) *Server {
	t.Helper()
	db := pgtest.Name("dbackup_ferret")
	if _, err := pgtest.Connect(t, "").Exec(context.Background(), "CREATE DATABASE "+db+" OWNER "+User); err != nil {
		t.Fatalf("create FerretDB's database: %v (start PostgreSQL with `make services`)", err)
	}
	pgtest.Drop(t, db)
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:       "postgresql",
		PostgreSQLURL: "postgres://127.0.0.1:5432/" + db + "?sslmode=disable",
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	s := &Server{}
	stopped := false
	s.stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(s.stop)
	host, port, err := net.SplitHostPort(hostPort(f.MongoDBURI()))
	if err != nil {
		t.Fatal(err)
	}
	s.Host = host
	s.Port, _ = strconv.Atoi(port)
	return s
}

func hostPort(uri string) string {
	const p = "mongodb://"
	uri = uri[len(p):]
	for i, c := range uri {
		if c == '/' {
			return uri[:i]
		}
	}
	return uri
}

// Client connects to s as the test user; disconnected at cleanup.
func (s *Server) Client(t testing.TB) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(options.Client().SetHosts([]string{net.JoinHostPort(s.Host, strconv.Itoa(s.Port))}).SetDirect(true).
		SetAuth(options.Credential{Username: User, Password: Password, AuthMechanism: Mechanism}).
		SetServerSelectionTimeout(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background()) })
	return c
}

package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/store"
)

// endpoints stores sources or destinations; both tables have one shape.
type endpoints struct {
	s         *DB
	table     string
	jobsQuery string // counts the jobs using an endpoint
}

var _ store.Endpoints = (*endpoints)(nil)

func (s *DB) Sources() store.Endpoints      { return s.sources }
func (s *DB) Destinations() store.Endpoints { return s.dests }
func (s *DB) Channels() store.Endpoints     { return s.channels }

func (e *endpoints) what() string { return e.table[:len(e.table)-1] }

func (e *endpoints) seal(ep *backup.Endpoint) ([]byte, error) {
	if len(ep.Secrets) == 0 {
		return nil, nil
	}
	plain, err := json.Marshal(ep.Secrets)
	if err != nil {
		return nil, err
	}
	return e.s.box.Seal(plain, e.table+":"+ep.ID)
}

func (e *endpoints) Create(ctx context.Context, ep *backup.Endpoint) error {
	if ep.ID == "" {
		ep.ID = uuid.Must(uuid.NewV7()).String()
	}
	now := time.Now().UTC()
	ep.CreatedAt, ep.UpdatedAt = now, now
	sealed, err := e.seal(ep)
	if err != nil {
		return err
	}
	_, err = e.s.exec(ctx, "INSERT INTO "+e.table+" (id, name, type, config, secrets, scratch, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		ep.ID, ep.Name, ep.Type, string(configOrEmpty(ep.Config)), sealed, boolInt(ep.Scratch), micros(now), micros(now))
	return classify(err, fmt.Sprintf("create %s %q", e.what(), ep.Name))
}

func configOrEmpty(c json.RawMessage) json.RawMessage {
	if len(c) == 0 {
		return json.RawMessage("{}")
	}
	return c
}

const endpointColumns = "id, name, type, config, secrets, scratch, created_at, updated_at"

func (e *endpoints) scan(row interface{ Scan(...any) error }) (*backup.Endpoint, error) {
	var ep backup.Endpoint
	var config string
	var sealed []byte
	var created, updated int64
	var scratch int
	if err := row.Scan(&ep.ID, &ep.Name, &ep.Type, &config, &sealed, &scratch, &created, &updated); err != nil {
		return nil, err
	}
	ep.Scratch = scratch != 0
	ep.Config = json.RawMessage(config)
	ep.CreatedAt, ep.UpdatedAt = fromMicros(created), fromMicros(updated)
	ep.Secrets = map[string]string{}
	if len(sealed) > 0 {
		plain, err := e.s.box.Open(sealed, e.table+":"+ep.ID)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", e.what(), ep.Name, err)
		}
		if err := json.Unmarshal(plain, &ep.Secrets); err != nil {
			return nil, err
		}
	}
	return &ep, nil
}

func (e *endpoints) Get(ctx context.Context, ref string) (*backup.Endpoint, error) {
	ep, err := e.scan(e.s.queryRow(ctx, "SELECT "+endpointColumns+" FROM "+e.table+" WHERE id = ? OR name = ? ORDER BY (id = ?) DESC LIMIT 1", ref, ref, ref))
	return ep, notFound(err, e.what(), ref)
}

func (e *endpoints) List(ctx context.Context) ([]*backup.Endpoint, error) {
	rows, err := e.s.query(ctx, "SELECT "+endpointColumns+" FROM "+e.table+" ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*backup.Endpoint
	for rows.Next() {
		ep, err := e.scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ep)
	}
	return out, rows.Err()
}

func (e *endpoints) Update(ctx context.Context, ep *backup.Endpoint) error {
	ep.UpdatedAt = time.Now().UTC()
	sealed, err := e.seal(ep)
	if err != nil {
		return err
	}
	res, err := e.s.exec(ctx, "UPDATE "+e.table+" SET name = ?, type = ?, config = ?, secrets = ?, scratch = ?, updated_at = ? WHERE id = ?",
		ep.Name, ep.Type, string(configOrEmpty(ep.Config)), sealed, boolInt(ep.Scratch), micros(ep.UpdatedAt), ep.ID)
	if err != nil {
		return classify(err, fmt.Sprintf("update %s %q", e.what(), ep.Name))
	}
	return mustAffect(res, e.what(), ep.ID)
}

func (e *endpoints) Delete(ctx context.Context, id string) error {
	var n int
	if err := e.s.queryRow(ctx, e.jobsQuery, id).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("%s is used by %d job(s): %w", e.what(), n, backup.ErrInUse)
	}
	res, err := e.s.exec(ctx, "DELETE FROM "+e.table+" WHERE id = ?", id)
	if err != nil {
		return classify(err, "delete "+e.what())
	}
	return mustAffect(res, e.what(), id)
}

func mustAffect(res sql.Result, what, id string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s %q: %w", what, id, backup.ErrNotFound)
	}
	return nil
}

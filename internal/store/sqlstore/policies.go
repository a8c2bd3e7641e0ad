package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/dbackup/dbackup/internal/backup"
)

// CreatePolicy stores a retention policy template.
func (s *DB) CreatePolicy(ctx context.Context, p *backup.PolicyTemplate) error {
	if p.ID == "" {
		p.ID = uuid.Must(uuid.NewV7()).String()
	}
	now := time.Now().UTC()
	p.CreatedAt, p.UpdatedAt = now, now
	return s.tx(ctx, func(tx *sql.Tx) error {
		if p.Default {
			if _, err := tx.ExecContext(ctx, "UPDATE retention_policies SET is_default = 0"); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, s.q("INSERT INTO retention_policies (id, name, config, is_default, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)"),
			p.ID, p.Name, string(configOrEmpty(p.Policy)), boolInt(p.Default), micros(now), micros(now))
		return classify(err, fmt.Sprintf("create retention policy %q", p.Name))
	})
}

const policyColumns = "id, name, config, is_default, created_at, updated_at"

func scanPolicy(row interface{ Scan(...any) error }) (*backup.PolicyTemplate, error) {
	var p backup.PolicyTemplate
	var config string
	var def int
	var created, updated int64
	if err := row.Scan(&p.ID, &p.Name, &config, &def, &created, &updated); err != nil {
		return nil, err
	}
	p.Policy, p.Default = json.RawMessage(config), def != 0
	p.CreatedAt, p.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &p, nil
}

// GetPolicy finds a template by id or name.
func (s *DB) GetPolicy(ctx context.Context, ref string) (*backup.PolicyTemplate, error) {
	p, err := scanPolicy(s.queryRow(ctx, "SELECT "+policyColumns+" FROM retention_policies WHERE id = ? OR name = ? ORDER BY (id = ?) DESC LIMIT 1", ref, ref, ref))
	return p, notFound(err, "retention policy", ref)
}

// ListPolicies lists templates by name.
func (s *DB) ListPolicies(ctx context.Context) ([]*backup.PolicyTemplate, error) {
	rows, err := s.query(ctx, "SELECT "+policyColumns+" FROM retention_policies ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*backup.PolicyTemplate
	for rows.Next() {
		p, err := scanPolicy(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// UpdatePolicy rewrites a template.
func (s *DB) UpdatePolicy(ctx context.Context, p *backup.PolicyTemplate) error {
	p.UpdatedAt = time.Now().UTC()
	return s.tx(ctx, func(tx *sql.Tx) error {
		if p.Default {
			if _, err := tx.ExecContext(ctx, s.q("UPDATE retention_policies SET is_default = 0 WHERE id <> ?"), p.ID); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, s.q("UPDATE retention_policies SET name = ?, config = ?, is_default = ?, updated_at = ? WHERE id = ?"),
			p.Name, string(configOrEmpty(p.Policy)), boolInt(p.Default), micros(p.UpdatedAt), p.ID)
		if err != nil {
			return classify(err, fmt.Sprintf("update retention policy %q", p.Name))
		}
		return mustAffect(res, "retention policy", p.ID)
	})
}

// DeletePolicy deletes a template no job destination uses.
func (s *DB) DeletePolicy(ctx context.Context, id string) error {
	var n int
	if err := s.queryRow(ctx, "SELECT count(*) FROM job_destinations WHERE policy_id = ?", id).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("retention policy is used by %d job destination(s): %w", n, backup.ErrInUse)
	}
	res, err := s.exec(ctx, "DELETE FROM retention_policies WHERE id = ?", id)
	if err != nil {
		return err
	}
	return mustAffect(res, "retention policy", id)
}

// DefaultPolicy returns the default template or nil.
func (s *DB) DefaultPolicy(ctx context.Context) (*backup.PolicyTemplate, error) {
	p, err := scanPolicy(s.queryRow(ctx, "SELECT "+policyColumns+" FROM retention_policies WHERE is_default = 1 LIMIT 1"))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return p, err
}

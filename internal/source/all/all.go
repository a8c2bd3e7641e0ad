// Package all is the explicit list of database sources and of the
// validators of their dump formats.
package all

import (
	"github.com/dbackup/dbackup/internal/plugin"
	"github.com/dbackup/dbackup/internal/source"
	"github.com/dbackup/dbackup/internal/source/mongodb"
	"github.com/dbackup/dbackup/internal/source/mysql"
	"github.com/dbackup/dbackup/internal/source/postgres"
	"github.com/dbackup/dbackup/internal/source/redis"
	"github.com/dbackup/dbackup/internal/source/sqlite"
)

// Registry returns every source type dbackup knows.
func Registry() *plugin.Registry[source.Source] {
	return plugin.NewRegistry("source", postgres.Factory, mysql.Factory, mongodb.Factory, sqlite.Factory, redis.Factory)
}

// Validators returns the validator of every data format a source dumps
// (the multi-database tar is read by source.Validators itself).
func Validators() source.Validators {
	return source.Validators{
		"pg_custom":           postgres.Validate,
		"sql":                 mysql.Validate,
		mongodb.FormatTar:     mongodb.ValidateTar,
		mongodb.FormatArchive: mongodb.ValidateArchive,
		"sqlite":              sqlite.Validate,
		"rdb":                 redis.Validate,
	}
}

// Throwaways start each engine's private server for drills. MongoDB has
// none (no server can be started here): its drills need a drill target.
func Throwaways() map[string]source.Starter {
	return map[string]source.Starter{
		postgres.Type: postgres.StartThrowaway,
		mysql.Type:    mysql.StartThrowaway,
		redis.Type:    redis.StartThrowaway,
		sqlite.Type:   sqlite.StartThrowaway,
	}
}

// Package all is the explicit list of storage destinations.
package all

import (
	"log/slog"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/dest/ftp"
	"github.com/dbackup/dbackup/internal/dest/local"
	"github.com/dbackup/dbackup/internal/dest/s3"
	"github.com/dbackup/dbackup/internal/dest/sftp"
	"github.com/dbackup/dbackup/internal/dest/smb"
	"github.com/dbackup/dbackup/internal/dest/webdav"
	"github.com/dbackup/dbackup/internal/plugin"
)

// Registry returns every destination type dbackup knows; each destination
// it builds is wrapped with retries and logging (to log).
func Registry(log *slog.Logger) *plugin.Registry[dest.Destination] {
	r := plugin.NewRegistry("destination", local.Factory, s3.Factory, sftp.Factory, webdav.Factory, ftp.Factory, smb.Factory)
	r.Wrap = func(e *backup.Endpoint, d dest.Destination) dest.Destination { return dest.Wrap(d, e.Name, log) }
	return r
}

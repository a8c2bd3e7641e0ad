// Package all is the explicit list of storage destinations.
package all

import (
	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/dest/ftp"
	"github.com/dbackup/dbackup/internal/dest/local"
	"github.com/dbackup/dbackup/internal/dest/sftp"
	"github.com/dbackup/dbackup/internal/dest/smb"
	"github.com/dbackup/dbackup/internal/dest/webdav"
	"github.com/dbackup/dbackup/internal/plugin"
)

// Registry returns every destination type dbackup knows.
func Registry() *plugin.Registry[dest.Destination] {
	return plugin.NewRegistry("destination", local.Factory, sftp.Factory, webdav.Factory, ftp.Factory, smb.Factory)
}

package backup

import (
	"fmt"
	"time"
)

// Drill is what a restore drill did and found.
type Drill struct {
	// Target is where the backup was restored: "throwaway" (a private
	// server dbackup started) or the name of a scratch source.
	Target string `json:"target"`
	// TargetID is the scratch source a drill was asked to restore into;
	// empty: a throwaway server.
	TargetID      string `json:"target_id,omitempty"`
	ServerVersion string `json:"server_version,omitempty"`
	// BackupCreatedAt is when the drilled backup was made: the recovery
	// point a passed drill proves.
	BackupCreatedAt time.Time `json:"backup_created_at"`
	// StartupMillis is how long the throwaway server took to start;
	// RestoreMillis is the restore's wall time, counts checked: a
	// measured recovery time.
	StartupMillis int64 `json:"startup_ms"`
	RestoreMillis int64 `json:"restore_ms"`
	BytesRead     int64 `json:"bytes_read"`
	// Tables is every table (collection, Redis database) the backup holds,
	// with what the drill found; Found is -1 when it was not counted.
	Tables []DrillTable `json:"tables"`
	// Skipped says why the drill did not run (the execution is skipped).
	Skipped string `json:"skipped,omitempty"`
}

// DrillTable is one table's expected and found row count.
type DrillTable struct {
	Database string `json:"database"`
	Table    string `json:"table"`
	Expected int64  `json:"expected"`
	Found    int64  `json:"found"`
}

// Rows is the number of rows (entries) the drill found in all.
func (d *Drill) Rows() int64 {
	var n int64
	for _, t := range d.Tables {
		if t.Found > 0 {
			n += t.Found
		}
	}
	return n
}

// Summary is the drill's result in words, for the storage explorer and
// notifications: "14 tables, 1,204,118 rows, restored in 38 s".
func (d *Drill) Summary() string {
	if d.Skipped != "" {
		return "skipped: " + d.Skipped
	}
	return fmt.Sprintf("%s %s, %s rows, restored in %s", Thousands(int64(len(d.Tables))), plural("table", len(d.Tables)),
		Thousands(d.Rows()), Millis(d.RestoreMillis))
}

// Millis is a duration in milliseconds as people read it: to the
// millisecond under a second, to a tenth of a second above.
func Millis(ms int64) string {
	d := time.Duration(ms) * time.Millisecond
	if d >= time.Second {
		d = d.Round(100 * time.Millisecond)
	}
	return d.String()
}

// RecordCounts adds what a drill found in database db to d.Tables, each
// table of want with its count in got (-1 when missing).
func (d *Drill) RecordCounts(db string, want, got Counts) {
	for _, name := range want.Names() {
		found, ok := got[name]
		if !ok {
			found = -1
		}
		d.Tables = append(d.Tables, DrillTable{Database: db, Table: name, Expected: want[name], Found: found})
	}
}

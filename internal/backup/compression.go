package backup

import "fmt"

// Compression is the algorithm applied to the dump before encryption.
type Compression string

const (
	CompressionNone   Compression = "none"
	CompressionGzip   Compression = "gzip"
	CompressionZstd   Compression = "zstd"
	CompressionBrotli Compression = "brotli"
)

// compressionLevels holds each algorithm's file extension, default and valid level range.
var compressionLevels = map[Compression]struct {
	ext           string
	def, min, max int
}{
	CompressionNone: {"", 0, 0, 0},
	CompressionGzip: {".gz", 6, 1, 9},
	// zstd's default is level 1: in dbackup's parallel frames it is both
	// the fastest and, on PostgreSQL and MariaDB dumps, no larger than
	// level 3 (docs/benchmarks.md).
	CompressionZstd:   {".zst", 1, 1, 22},
	CompressionBrotli: {".br", 4, 0, 11},
}

// LevelAdaptive asks zstd for a level that moves between AdaptiveFloor
// and AdaptiveCeiling with the pipeline's back-pressure.
const LevelAdaptive = -1

// Validate checks the algorithm and the level (0 means the default).
func (c Compression) Validate(level int) error {
	l, ok := compressionLevels[c]
	if !ok {
		return fmt.Errorf("%w: compression %q (want none, gzip, zstd or brotli)", ErrInvalid, c)
	}
	if level == LevelAdaptive && c == CompressionZstd {
		return nil
	}
	if level != 0 && (level < l.min || level > l.max) {
		return fmt.Errorf("%w: %s level %d (want %d..%d)", ErrInvalid, c, level, l.min, l.max)
	}
	return nil
}

// Ext is the file-name suffix the algorithm adds ("" for none).
func (c Compression) Ext() string { return compressionLevels[c].ext }

// Level resolves 0 to the algorithm's default level.
func (c Compression) Level(level int) int {
	if level == 0 {
		return compressionLevels[c].def
	}
	return level
}

// Adaptive zstd levels: a stream at LevelAdaptive moves between these.
const (
	AdaptiveFloor   = 1
	AdaptiveCeiling = 3
)

// LevelName says which level a job compresses at, for logs and pages.
func (c Compression) LevelName(level int) string {
	switch l := c.Level(level); {
	case c == CompressionNone:
		return "no level"
	case c == CompressionZstd && l == LevelAdaptive:
		return fmt.Sprintf("adaptive level %d..%d", AdaptiveFloor, AdaptiveCeiling)
	default:
		return fmt.Sprintf("level %d", l)
	}
}

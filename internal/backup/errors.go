package backup

import "errors"

// Sentinel errors shared by every layer; wrap them with context.
var (
	ErrNotFound    = errors.New("not found")
	ErrConflict    = errors.New("already exists")
	ErrInUse       = errors.New("in use")
	ErrInvalid     = errors.New("invalid")
	ErrCancelled   = errors.New("cancelled")
	ErrUnsupported = errors.New("unsupported")
	// ErrUntrusted: a backup's sidecar is not authenticated by a key of ours.
	ErrUntrusted = errors.New("not authenticated")
	// Causes that end a run.
	ErrStalled  = errors.New("stalled")
	ErrTooLong  = errors.New("exceeded its maximum duration")
	ErrShutdown = errors.New("dbackup is shutting down")
	ErrNodeLost = errors.New("the node running it stopped responding")
)

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
)

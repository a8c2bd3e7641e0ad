package proc

import "os"

// WithSecretFile writes content (a tool's option file carrying a password)
// to a new file readable only by us, calls fn with its path and removes the
// file afterwards, so that the password never appears on a command line.
func WithSecretFile(pattern, content string, fn func(path string) error) error {
	f, err := os.CreateTemp("", pattern)
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return fn(f.Name())
}

// Package version holds the build version, set with -ldflags at build time.
package version

// Version is overwritten by the Makefile's -ldflags.
var Version = "dev"

package client

import (
	"reflect"
	"runtime/debug"
	"strings"
)

// Version is the version of this client: the version of the sockd module it
// was built from, as the Go toolchain recorded it ("(devel)" for a build
// without version information).
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	if bi.Main.Path == modulePath {
		return bi.Main.Version // sockctl, sockbench: sockd's module is the main one
	}
	for _, d := range bi.Deps {
		if d.Path == modulePath {
			if d.Replace != nil && d.Replace.Version != "" {
				return d.Replace.Version
			}
			return d.Version
		}
	}
	return "(devel)"
}

// Revision is the version control revision this client was built from
// (with "+dirty" for uncommitted changes), if the build recorded it.
func Revision() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" {
		return ""
	}
	return rev + dirty
}

// modulePath is the module this package belongs to (its import path less
// "/client").
var modulePath = strings.TrimSuffix(reflect.TypeFor[Client]().PkgPath(), "/client")

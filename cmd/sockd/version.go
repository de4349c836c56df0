package main

import "runtime/debug"

// releaseVersion is sockd's version (CHANGELOG.md names it). A release build
// may set it with -ldflags "-X main.releaseVersion=v1.2.3".
var releaseVersion = "0.4.0-dev"

// version is releaseVersion, with the commit it was built from when the
// build recorded one.
func version() string {
	v := releaseVersion
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if len(rev) >= 12 {
		v += "+" + rev[:12] + dirty
	}
	return v
}

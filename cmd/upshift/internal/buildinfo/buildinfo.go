// Package buildinfo says which upshift a binary is: the version and commit
// make release stamps into it, else what the go command recorded.
package buildinfo

import "runtime/debug"

// Version is stamped when set, else the module version `go install
// …@vX.Y.Z` recorded, else "dev".
func Version(stamped string) string {
	if stamped != "" {
		return stamped
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Commit is stamped when set, else the checkout's revision the go command
// recorded ("" when none).
func Commit(stamped string) string {
	if stamped != "" {
		return stamped
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return ""
}

//go:build !crashpoints

package crashpoint

// Enabled reports whether this binary was built with the crash points.
const Enabled = false

// Hit does nothing in a build without the crash points.
func Hit(string) {}

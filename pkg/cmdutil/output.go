package cmdutil

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// outputAnnotation names, on a command, the -o formats it offers.
const outputAnnotation = "codesync:output-formats"

// Outputs is the Annotations of a command that offers these -o formats; the
// first is its default. The root validates -o and completes it from them, so
// a command offers exactly the formats it can print.
func Outputs(formats ...string) map[string]string {
	return map[string]string{outputAnnotation: strings.Join(formats, ",")}
}

// errorsOnly are the formats of a command that prints no data: -o json only
// makes its errors JSON, and --jq has nothing to filter.
var errorsOnly = []string{"table", "json"}

// SupportedOutputs returns the formats cmd declared, and whether it prints
// data at all (only then does --jq apply).
func SupportedOutputs(cmd *cobra.Command) (formats []string, data bool) {
	if v, ok := cmd.Annotations[outputAnnotation]; ok && v != "" {
		return strings.Split(v, ","), true
	}
	return errorsOnly, false
}

// HasOutputs reports whether cmd declared its formats with Outputs.
func HasOutputs(cmd *cobra.Command) bool {
	_, ok := cmd.Annotations[outputAnnotation]
	return ok
}

// OutputFormatFor resolves -o for cmd from the formats it declared.
func OutputFormatFor(f *Factory, cmd *cobra.Command) (string, error) {
	formats, data := SupportedOutputs(cmd)
	if !data && f.Flags.JQ != "" {
		return "", UsageErrorf("--jq: %s prints no JSON to filter", cmd.CommandPath())
	}
	return OutputFormat(f, formats...)
}

// OutputFormat returns the -o format out of allowed (the first is the
// default). An explicit -o the command does not offer is a usage error; a
// default from the config file that it does not offer falls back to the
// command's own default. --jq implies json (or goes with -o ndjson).
func OutputFormat(f *Factory, allowed ...string) (string, error) {
	explicit := f.Flags.Output
	if explicit != "" && !slices.Contains(allowed, explicit) {
		return "", UsageErrorf("invalid output format %q: use %s", explicit, strings.Join(allowed, ", "))
	}
	if f.Flags.JQ != "" {
		if !slices.Contains(allowed, "json") {
			return "", UsageErrorf("--jq needs JSON output, which this command does not print")
		}
		switch explicit {
		case "", "json":
			return "json", nil
		case "ndjson": // each line filtered on its own
			return explicit, nil
		}
		return "", UsageErrorf("--jq filters JSON: it does not go with -o %s", explicit)
	}
	if explicit != "" {
		return explicit, nil
	}
	format := ""
	if f.Config != nil {
		if cfg, err := f.Config(); err == nil {
			format = cfg.Output()
		}
	}
	if slices.Contains(allowed, format) {
		return format, nil
	}
	if len(allowed) > 0 {
		return allowed[0], nil
	}
	return "table", nil
}

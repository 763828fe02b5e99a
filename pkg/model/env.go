package model

// ParseEnvironment reads an environment name as people type it: production
// or sandbox, or their token prefixes prod and dev. It returns the one name
// used everywhere else (tables, JSON, CSV, key show).
func ParseEnvironment(s string) (string, bool) {
	switch s {
	case "production", "prod":
		return EnvProduction, true
	case "sandbox", "dev":
		return EnvSandbox, true
	}
	return "", false
}

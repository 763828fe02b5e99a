package scan

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// SARIF 2.1.0 (OASIS) output for code-scanning tools (GitHub code scanning,
// GitLab, Azure DevOps). Only the fields this scanner has are written.

// RuleID is the SARIF rule of a found CodeSync API key.
const RuleID = "codesync/api-key"

// SARIFLog is a SARIF 2.1.0 log with one run.
type SARIFLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool       sarifTool     `json:"tool"`
	ColumnKind string        `json:"columnKind"`
	Results    []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	ShortDescription     sarifText      `json:"shortDescription"`
	FullDescription      sarifText      `json:"fullDescription"`
	Help                 sarifText      `json:"help"`
	DefaultConfiguration map[string]any `json:"defaultConfiguration"`
	Properties           map[string]any `json:"properties"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          map[string]any    `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           sarifRegion   `json:"region"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn"`
	EndColumn   int `json:"endColumn"`
}

const help = `A CodeSync API key is written here. Anyone who can read this file can use the key.

1. Revoke it now: codesync-cli key revoke KEY_ID (or codesync-cli scan --revoke PATH).
2. Create a replacement and keep it in your CI system's secret store, passed in CODESYNC_AUTH_TOKEN.
3. Remove the key from the file; if it was committed, it stays in the git history: revoking it is what protects you.`

const helpMarkdown = `A CodeSync API key is written here. Anyone who can read this file can use the key.

1. Revoke it now: ` + "`codesync-cli key revoke KEY_ID`" + ` (or ` + "`codesync-cli scan --revoke PATH`" + `).
2. Create a replacement and keep it in your CI system's secret store, passed in ` + "`CODESYNC_AUTH_TOKEN`" + `.
3. Remove the key from the file; if it was committed, it stays in the git history: revoking it is what protects you.`

// SARIF builds the log for findings. props, when not nil, adds properties
// to each result (the server's answer of `scan --check`).
func SARIF(findings []Finding, version string, props func(i int) map[string]any) SARIFLog {
	run := sarifRun{
		Tool: sarifTool{Driver: sarifDriver{
			Name: "codesync-cli", Version: version, InformationURI: "https://github.com/codesync/codesync-cli",
			Rules: []sarifRule{{
				ID: RuleID, Name: "CodeSyncAPIKey",
				ShortDescription:     sarifText{Text: "CodeSync API key"},
				FullDescription:      sarifText{Text: "A CodeSync API key (csy_prod_… or csy_dev_…, checksum valid) is stored in plain text."},
				Help:                 sarifText{Text: help, Markdown: helpMarkdown},
				DefaultConfiguration: map[string]any{"level": "error"},
				Properties:           map[string]any{"tags": []string{"security", "secret", "credential"}, "precision": "very-high", "security-severity": "9.0"},
			}},
		}},
		ColumnKind: "unicodeCodePoints",
		Results:    []sarifResult{},
	}
	for i, f := range findings {
		msg := fmt.Sprintf("CodeSync API key %s… (%s) found", f.Prefix, f.Environment)
		if f.Commit != "" {
			msg += " in commit " + f.Commit
		}
		r := sarifResult{
			RuleID: RuleID, RuleIndex: 0, Level: "error",
			Message: sarifText{Text: msg + "."},
			Locations: []sarifLocation{{PhysicalLocation: sarifPhysical{
				ArtifactLocation: sarifArtifact{URI: URI(f.Path)},
				Region:           sarifRegion{StartLine: f.Line, StartColumn: f.Column, EndColumn: f.EndColumn},
			}}},
			PartialFingerprints: map[string]string{"codesyncTokenSha256/v1": f.SHA256},
		}
		p := map[string]any{"prefix": f.Prefix, "environment": f.Environment}
		if f.Commit != "" {
			p["commit"] = f.Commit
		}
		if props != nil {
			for k, v := range props(i) {
				p[k] = v
			}
		}
		r.Properties = p
		run.Results = append(run.Results, r)
	}
	return SARIFLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: []sarifRun{run}}
}

// URI makes a finding's path a URI reference: relative paths stay relative
// (code-scanning tools resolve them against the checkout), absolute ones
// become file: URIs, standard input is "stdin".
func URI(p string) string {
	if p == "-" {
		return "stdin"
	}
	p = filepath.ToSlash(p)
	u := url.URL{Path: p}
	if strings.HasPrefix(p, "/") {
		u.Scheme = "file"
		return u.String()
	}
	// (a relative path whose first segment holds a colon gets "./" in front,
	// so it does not read as a scheme)
	return u.String()
}

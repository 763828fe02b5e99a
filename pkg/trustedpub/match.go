package trustedpub

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// GitHub events whose workflows never publish: they run for pull requests,
// which anyone can open from a fork. pull_request_target and the review
// events even run with the base repository's privileges.
var gitHubPullRequestEvents = []string{"pull_request", "pull_request_target", "pull_request_review", "pull_request_review_comment"}

// GitLab pipeline sources that never publish: merge request pipelines (a
// parent project can run them for a fork's merge request) and external
// pull requests.
var gitLabMergeRequestSources = []string{"merge_request_event", "external_pull_request_event"}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// claimString renders a claim for K=V comparison: strings as they are,
// numbers and booleans as their JSON text (true, 123).
func claimString(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, true
	case bool, float64, json.Number:
		b, _ := json.Marshal(x)
		return string(b), true
	}
	return "", false
}

func (id *Identity) isGitHub() bool { _, ok := id.Claims["job_workflow_ref"]; return ok }
func (id *Identity) isGitLab() bool { _, ok := id.Claims["project_path"]; return ok }

// matched picks the audit claims of a verified token.
func (id *Identity) matched() *MatchedClaims {
	c := id.Claims
	mc := &MatchedClaims{Issuer: id.Issuer, Subject: clip(str(c, "sub")), JTI: clip(str(c, "jti")), Ref: clip(str(c, "ref")), Environment: clip(str(c, "environment"))}
	switch {
	case id.isGitHub():
		mc.Repository = str(c, "repository")
		mc.Workflow = str(c, "job_workflow_ref")
		mc.EventName = str(c, "event_name")
		mc.Actor = str(c, "actor")
		mc.RunID = str(c, "run_id")
		if a := str(c, "run_attempt"); a != "" && mc.RunID != "" {
			mc.RunID += "/" + a
		}
	case id.isGitLab():
		mc.Repository = str(c, "project_path")
		mc.Workflow = str(c, "ci_config_ref_uri")
		mc.EventName = str(c, "pipeline_source")
		mc.Actor = str(c, "user_login")
		mc.RunID = str(c, "pipeline_id")
		if j := str(c, "job_id"); j != "" && mc.RunID != "" {
			mc.RunID += "/" + j
		}
	}
	mc.Repository, mc.Workflow, mc.EventName, mc.Actor, mc.RunID = clip(mc.Repository), clip(mc.Workflow), clip(mc.EventName), clip(mc.Actor), clip(mc.RunID)
	return mc
}

// Match finds the publishers a verified identity satisfies. Before any
// publisher is considered, pull-request workflows and fork identities are
// refused (see checkProvenance). The error is always a *Refusal.
func Match(id *Identity, pubs []Publisher) (*Grant, error) {
	mc := id.matched()
	if r := checkProvenance(id); r != nil {
		r.Claims = mc
		return nil, r
	}
	var hits []Publisher
	for _, p := range pubs {
		if p.ExpectedIssuer() != id.Issuer || len(p.Namespaces) == 0 {
			continue
		}
		if matches(&p, id) {
			hits = append(hits, p)
		}
	}
	if len(hits) == 0 {
		return nil, &Refusal{Reason: ReasonNoPublisher, Detail: noMatchDetail(mc), Claims: mc}
	}
	sort.Slice(hits, func(i, j int) bool { return hits[i].ID < hits[j].ID })
	var ns []string
	for _, p := range hits {
		for _, n := range p.Namespaces {
			if !slices.Contains(ns, n) {
				ns = append(ns, n)
			}
		}
	}
	sort.Strings(ns)
	return &Grant{Publisher: hits[0], Publishers: hits, Namespaces: ns, Scopes: slices.Clone(GrantedScopes), Claims: *mc}, nil
}

func noMatchDetail(mc *MatchedClaims) string {
	if mc.Repository != "" {
		return fmt.Sprintf("no trusted publisher matches repository %s, workflow %s, ref %s, environment %q", mc.Repository, mc.Workflow, mc.Ref, mc.Environment)
	}
	return "no trusted publisher matches subject " + mc.Subject
}

// checkProvenance refuses identities that may run code from someone other
// than the repository's writers, whatever the publishers say:
//
// GitHub (tokens with job_workflow_ref):
//   - event_name pull_request, pull_request_target, pull_request_review,
//     pull_request_review_comment: refused (ReasonPullRequest). GitHub's
//     tokens do not say whether a pull request comes from a fork, so no
//     pull-request workflow publishes.
//   - head_repository, when the token has it (GitHub Enterprise and
//     custom claims; github.com's tokens do not), must equal repository
//     (ReasonFork).
//   - repository must be OWNER/REPO and repository_owner must be its OWNER
//     (ReasonInconsistent).
//
// GitLab (tokens with project_path):
//   - pipeline_source merge_request_event or external_pull_request_event:
//     refused (ReasonPullRequest); a parent project can run a fork's
//     merge request pipeline in its own context.
//   - namespace_path, when present, must be the project_path's group
//     (ReasonInconsistent).
func checkProvenance(id *Identity) *Refusal {
	c := id.Claims
	switch {
	case id.isGitHub():
		repo := str(c, "repository")
		if ev := str(c, "event_name"); slices.Contains(gitHubPullRequestEvents, ev) {
			return refuse(ReasonPullRequest, "workflows run for pull requests (event %s) cannot publish", ev)
		}
		if h, ok := c["head_repository"]; ok {
			if hs, _ := h.(string); hs != "" && !strings.EqualFold(hs, repo) {
				return refuse(ReasonFork, "the workflow runs code from fork %s, not %s", clip(hs), clip(repo))
			}
		}
		owner, _, ok := strings.Cut(repo, "/")
		if !ok || !ownerRepo(repo, false) || !strings.EqualFold(owner, str(c, "repository_owner")) {
			return refuse(ReasonInconsistent, "the token's repository %q and repository_owner %q disagree", clip(repo), clip(str(c, "repository_owner")))
		}
	case id.isGitLab():
		if src := str(c, "pipeline_source"); slices.Contains(gitLabMergeRequestSources, src) {
			return refuse(ReasonPullRequest, "merge request pipelines (%s) cannot publish", src)
		}
		pp := str(c, "project_path")
		if ns := str(c, "namespace_path"); ns != "" && !strings.HasPrefix(strings.ToLower(pp), strings.ToLower(ns)+"/") {
			return refuse(ReasonInconsistent, "the token's project_path %q is not in namespace_path %q", clip(pp), clip(ns))
		}
	}
	return nil
}

// matches reports whether a verified identity satisfies one publisher.
//
// GitHub: repository equals (case-insensitively, as GitHub names are),
// repository_id equals when pinned, job_workflow_ref is
// REPOSITORY/.github/workflows/WORKFLOW@… (so a reusable workflow from
// another repository does not match), environment equals
// (case-insensitively) when set, ref equals when set.
// GitLab: project_path equals (case-insensitively), project_id equals when
// pinned, ref and environment equal when set.
// Generic: every K=V claim is present and equal; environment and ref too
// when set.
func matches(p *Publisher, id *Identity) bool {
	c := id.Claims
	switch p.Provider {
	case GitHubActions:
		if !id.isGitHub() || !strings.EqualFold(str(c, "repository"), p.Repository) {
			return false
		}
		if p.RepositoryID != "" && str(c, "repository_id") != p.RepositoryID {
			return false
		}
		if f, ok := workflowFile(str(c, "job_workflow_ref"), p.Repository); !ok || f != p.Workflow {
			return false
		}
		if p.Environment != "" && !strings.EqualFold(str(c, "environment"), p.Environment) {
			return false
		}
		return p.Ref == "" || str(c, "ref") == p.Ref
	case GitLabCI:
		if !id.isGitLab() || !strings.EqualFold(str(c, "project_path"), p.Repository) {
			return false
		}
		if p.RepositoryID != "" && str(c, "project_id") != p.RepositoryID {
			return false
		}
		if p.Environment != "" && str(c, "environment") != p.Environment {
			return false
		}
		return p.Ref == "" || str(c, "ref") == p.Ref
	case Generic:
		if len(p.Claims) == 0 {
			return false
		}
		for k, want := range p.Claims {
			got, ok := claimString(c[k])
			if !ok || got != want {
				return false
			}
		}
		if p.Environment != "" && str(c, "environment") != p.Environment {
			return false
		}
		return p.Ref == "" || str(c, "ref") == p.Ref
	}
	return false
}

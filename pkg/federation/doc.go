// Package federation is the upstream side of federated sign-in for the
// reference server: it reads the identity providers and mapping rules of the
// server configuration file, talks to the upstream providers (OpenID Connect,
// GitLab and GitHub OAuth apps), maps upstream groups to organization
// memberships and scope ceilings, seals upstream refresh tokens for storage,
// and keeps the short-lived state of a sign-in between its start and its
// callback.
//
// It holds no global state and stores nothing itself: the server owns the
// users, links, memberships and sessions, and backs the StateStore with its
// database.
//
// The flow the server wires in:
//
//	GET /auth/start/ID?return=PAGE
//	    url, binding, err := flow.Start(ctx, providers.Get(ID), PAGE)
//	    set cookie (binding), redirect to url
//	GET /auth/callback/ID?code=..&state=..
//	    res, err := flow.Callback(ctx, providers.Get(ID), r.URL.Query(), cookie)
//	    link/create the user by (res.Identity.Provider, res.Identity.Subject),
//	    seal res.RefreshToken with a TokenSealer and store it,
//	    apply Diff(ID, current, cfg.Resolve(ID, res.Identity.Groups)),
//	    redirect to res.Return
//	refresh of a CodeSync session (when recheck is due):
//	    id, newRT, err := provider.Recheck(ctx, subject, openedRT)
//	    err != nil -> the CodeSync refresh fails with invalid_grant
//	    otherwise store newRT and apply the mapping diff again
package federation

package authcmd

import (
	"context"
	"errors"

	"github.com/codesync/codesync-cli/pkg/auth"
	"github.com/codesync/codesync-cli/pkg/output"
)

// oauthLogin runs the browser or device flow and names the user with whoami.
func oauthLogin(ctx context.Context, o *LoginOptions) (*auth.Session, error) {
	c, err := o.F.AnonymousClient()
	if err != nil {
		return nil, err
	}
	if !c.Secure() {
		return nil, errors.New("refusing to log in to " + c.BaseURL() + " over plain http: use https:// (plain http only for loopback)")
	}
	cfg, err := o.F.Config()
	if err != nil {
		return nil, err
	}
	m, err := auth.NewProvider(ctx, c, cfg.OAuthIssuer())
	if err != nil {
		return nil, err
	}
	ios := o.F.IOStreams
	fo := auth.FlowOptions{
		Scopes: o.Scopes, HTTPClient: m.HTTPClient(), Stderr: ios.ErrOut, Getenv: o.F.Getenv, NoBrowser: o.NoBrowser,
		Spinner: func(msg string) func() { return output.Spinner(ios.ErrOut, ios.IsStderrTTY(), msg) },
	}
	web := o.Web || (!o.Device && auth.BrowserAvailable(o.F.Getenv) && !o.NoBrowser)
	tok, err := func() (*auth.Session, error) {
		if web {
			t, err := auth.WebFlow(ctx, m.Metadata, fo)
			if err != nil {
				return nil, err
			}
			return auth.SessionFromToken(t, o.Scopes, ""), nil
		}
		dt, err := auth.DeviceFlow(ctx, m.Metadata, fo)
		if err != nil {
			return nil, err
		}
		return auth.SessionFromToken(dt, o.Scopes, ""), nil
	}()
	if err != nil {
		return nil, err
	}
	who, err := c.WithToken(tok.AccessToken).WhoAmI(ctx)
	if err != nil {
		return nil, err
	}
	tok.User = who.User.Name
	return tok, nil
}

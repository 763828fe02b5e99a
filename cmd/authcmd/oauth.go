package authcmd

import (
	"context"

	"github.com/codesync/codesync-cli/pkg/auth"
	"github.com/codesync/codesync-cli/pkg/cmdutil"
)

// oauthLogin runs the browser or device flow.
func oauthLogin(ctx context.Context, o *LoginOptions) (*auth.Session, error) {
	return nil, cmdutil.Errorf("OAuth login is not available in this build: use --with-token")
}

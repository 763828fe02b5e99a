package key

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/codesync/codesync-cli/pkg/api"
	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/model"
)

// resolveKey finds the key an argument names: a key ID (key_…), or a key's
// name where that is unique. Among keys of the same name, the one in use is
// preferred: not revoked, not expired, and not already replaced by a
// rotation (whose predecessor keeps the name during its grace period).
func resolveKey(ctx context.Context, c *api.Client, arg string) (*model.Key, error) {
	if strings.HasPrefix(arg, "key_") {
		k, err := c.GetKey(ctx, arg)
		var he *api.HTTPError
		if err == nil || !errors.As(err, &he) || he.Status != 404 {
			return k, err
		}
		// perhaps a key named key_…: look for it by name below
		named, lerr := keysNamed(ctx, c, arg)
		if lerr != nil || len(named) == 0 {
			return nil, err
		}
	}
	named, err := keysNamed(ctx, c, arg)
	if err != nil {
		return nil, err
	}
	var current []model.Key
	for _, k := range named {
		if (k.Status == model.StatusActive || k.Status == model.StatusExpiring) && k.RotatedTo == nil {
			current = append(current, k)
		}
	}
	switch {
	case len(current) == 1:
		return &current[0], nil
	case len(current) == 0 && len(named) == 1:
		return &named[0], nil
	case len(named) == 0:
		return nil, &cmdutil.ExitError{Code: cmdutil.ExitNotFound, ErrCode: "not_found",
			Msg: fmt.Sprintf("no key named %q (and no key ID)", arg), Hint: "list your keys with 'codesync-cli key list --all'"}
	}
	if len(current) == 0 {
		current = named
	}
	var ids []string
	for _, k := range current {
		ids = append(ids, fmt.Sprintf("%s (%s)", k.ID, k.Status))
	}
	return nil, cmdutil.UsageErrorf("%d keys are named %q: %s; name one by its ID", len(current), arg, strings.Join(ids, ", "))
}

// keysNamed lists every key of the caller with this exact name.
func keysNamed(ctx context.Context, c *api.Client, name string) ([]model.Key, error) {
	var out []model.Key
	for k, err := range c.Keys(ctx, true) {
		if err != nil {
			return nil, err
		}
		if k.Name == name {
			out = append(out, k)
		}
	}
	return out, nil
}

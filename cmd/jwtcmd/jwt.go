// Package jwtcmd is `codesync-cli jwt …`: RS256 bearer tokens for
// service-to-service calls.
package jwtcmd

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/spf13/cobra"

	"github.com/codesync/codesync-cli/pkg/auth"
	"github.com/codesync/codesync-cli/pkg/cmdutil"
	"github.com/codesync/codesync-cli/pkg/jwtkeys"
	"github.com/codesync/codesync-cli/pkg/keyrules"
	"github.com/codesync/codesync-cli/pkg/output"
	"github.com/codesync/codesync-cli/pkg/token"
)

func NewCmdJWT(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "jwt <command>",
		Short: "Sign RS256 bearer tokens for service-to-service calls",
		Long: `A service registers its RSA public key once, then signs short-lived JWTs with
its private key; the server accepts them as bearer tokens (RS256 only, 15m to 24h).`,
	}
	cmd.AddCommand(newCmdRegister(f), newCmdList(f), newCmdDelete(f), NewCmdSign(f, nil))
	return cmd
}

func readFile(flag, path string) ([]byte, error) {
	if path == "" {
		return nil, cmdutil.UsageErrorf("%s PATH is required", flag)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, cmdutil.UsageErrorf("cannot read %s %s: %s", flag, path, strings.TrimPrefix(err.Error(), "open "+path+": "))
	}
	return b, nil
}

func newCmdRegister(f *cmdutil.Factory) *cobra.Command {
	var path, name string
	cmd := &cobra.Command{
		Use:         "register-key --public-key PATH [--name N]",
		Annotations: cmdutil.Outputs(output.FormatTable, output.FormatJSON),
		Short:       "Register an RSA public key (PEM, at least 2048 bits)",
		Args:        cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := cmdutil.OutputFormatFor(f, cmd)
			if err != nil {
				return err
			}
			data, err := readFile("--public-key", path)
			if err != nil {
				return err
			}
			if _, err := jwtkeys.ParsePublic(data); err != nil {
				return cmdutil.UsageErrorf("--public-key %s: %s", path, err)
			}
			c, err := f.APIClient()
			if err != nil {
				return err
			}
			k, err := c.RegisterJWTKey(cmd.Context(), name, string(data))
			if err != nil {
				return err
			}
			if format == output.FormatJSON {
				return output.JSON(f.IOStreams, k)
			}
			fmt.Fprintln(f.IOStreams.Out, k.ID)
			fmt.Fprintf(f.IOStreams.ErrOut, "Registered %s (%d bits, %s). Sign with: codesync-cli jwt sign --key-id %s --private-key KEY.pem\n", k.Name, k.Bits, k.Fingerprint, k.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "public-key", "", "RSA public key file (PEM)")
	_ = cmd.MarkFlagFilename("public-key")
	cmd.Flags().StringVar(&name, "name", "", "a name for the key")
	return cmd
}

func newCmdList(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:         "list-keys",
		Annotations: cmdutil.Outputs(output.FormatTable, output.FormatJSON),
		Short:       "List registered public keys",
		Args:        cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := cmdutil.OutputFormatFor(f, cmd)
			if err != nil {
				return err
			}
			c, err := f.APIClient()
			if err != nil {
				return err
			}
			keys, err := c.JWTKeys(cmd.Context())
			if err != nil {
				return err
			}
			if format == output.FormatJSON {
				return output.JSON(f.IOStreams, keys)
			}
			t := &output.Table{Header: []string{"ID", "NAME", "BITS", "FINGERPRINT", "CREATED"}}
			for _, k := range keys {
				t.AddRow(k.ID, k.Name, fmt.Sprint(k.Bits), k.Fingerprint, output.RelativeTime(f.Now(), k.CreatedAt))
			}
			return t.Render(f.IOStreams)
		},
	}
}

func newCmdDelete(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "delete-key ID",
		Short: "Delete a registered public key: tokens signed with it stop working",
		Args:  cmdutil.ExactArgs(1, "one key ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.APIClient()
			if err != nil {
				return err
			}
			if err := c.DeleteJWTKey(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(f.IOStreams.ErrOut, "Deleted %s.\n", args[0])
			return nil
		},
	}
}

type SignOptions struct {
	F          *cmdutil.Factory
	PrivateKey string
	KeyID      string
	Scopes     []string
	TTL        time.Duration
	Audience   string
}

func NewCmdSign(f *cmdutil.Factory, runF func(*SignOptions) error) *cobra.Command {
	opts := &SignOptions{F: f}
	var scopes, ttl string
	cmd := &cobra.Command{
		Use:   "sign --private-key PATH --key-id ID [--scopes S,…] [--ttl 15m] [--audience URL]",
		Short: "Print an RS256 JWT signed with your private key, and nothing else",
		Long: `Sign a JWT with a PKCS#1 or PKCS#8 RSA private key whose public key is
registered (jwt register-key). Claims: iss and sub are your user, aud the server's
issuer URL (from its OAuth metadata), iat, exp, jti and scope; the header names
the key (kid). Only the token is printed, for $(…) in scripts.`,
		Example: `  $ export CODESYNC_AUTH_TOKEN=$(codesync-cli jwt sign --private-key svc.pem --key-id jwk_… --scopes registry:read --ttl 1h)`,
		Args:    cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.KeyID == "" {
				return cmdutil.UsageErrorf("--key-id ID is required (see 'codesync-cli jwt list-keys')")
			}
			s, err := keyrules.ParseScopes(scopes)
			if err != nil {
				return cmdutil.UsageErrorf("%s", err)
			}
			opts.Scopes = s
			d, err := keyrules.ParseDuration(ttl)
			if err != nil || d < 15*time.Minute || d > 24*time.Hour {
				return cmdutil.UsageErrorf("invalid --ttl %q: from 15m to 24h", ttl)
			}
			opts.TTL = d
			if runF != nil {
				return runF(opts)
			}
			return signRun(cmd, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.PrivateKey, "private-key", "", "RSA private key file (PEM, PKCS#1 or PKCS#8)")
	_ = cmd.MarkFlagFilename("private-key")
	fl.StringVar(&opts.KeyID, "key-id", "", "ID of the registered public key (jwk_…)")
	fl.StringVar(&scopes, "scopes", "registry:read", "comma-separated scopes to claim")
	fl.StringVar(&ttl, "ttl", "15m", "lifetime, 15m to 24h")
	fl.StringVar(&opts.Audience, "audience", "", "aud claim (default: the server's issuer URL)")
	_ = cmd.RegisterFlagCompletionFunc("scopes", cmdutil.CompleteScopes)
	return cmd
}

func signRun(cmd *cobra.Command, o *SignOptions) error {
	data, err := readFile("--private-key", o.PrivateKey)
	if err != nil {
		return err
	}
	key, err := jwtkeys.ParsePrivate(data)
	if err != nil {
		return cmdutil.UsageErrorf("--private-key %s: %s", o.PrivateKey, err)
	}
	ctx := cmd.Context()
	anon, err := o.F.AnonymousClient()
	if err != nil {
		return err
	}
	aud := o.Audience
	if aud == "" {
		m, err := auth.Discover(ctx, anon)
		if err != nil {
			return err
		}
		aud = m.Issuer
	}
	user, err := userName(cmd, o.F)
	if err != nil {
		return err
	}
	now := o.F.Now()
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, struct {
		Scope string `json:"scope"`
		jwt.RegisteredClaims
	}{strings.Join(o.Scopes, " "), jwt.RegisteredClaims{
		Issuer: user, Subject: user, Audience: jwt.ClaimStrings{aud},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(o.TTL)), ID: token.RandomString(22),
	}})
	t.Header["kid"] = o.KeyID
	s, err := t.SignedString(key)
	if err != nil {
		return err
	}
	fmt.Fprintln(o.F.IOStreams.Out, s)
	return nil
}

// userName is the profile's user, else who the current credential belongs to.
func userName(cmd *cobra.Command, f *cmdutil.Factory) (string, error) {
	if cfg, err := f.Config(); err == nil && cfg.User() != "" {
		return cfg.User(), nil
	}
	c, err := f.APIClient()
	if err != nil {
		return "", err
	}
	w, err := c.WhoAmI(cmd.Context())
	if err != nil {
		return "", err
	}
	return w.User.Name, nil
}

// An independent OpenID provider for codesync-cli's interoperability test
// (oidc_interop_e2e_test.go): the certified npm package oidc-provider,
// configured for a public native client "codesync-cli" (PKCE, loopback
// redirect on any port, device flow, refresh token rotation, revocation).
//
// It listens on 127.0.0.1 on a free port and prints one JSON line
// {"issuer": URL} on stdout once it accepts requests. It stops when stdin
// closes (the test process went away) or on SIGTERM.
//
// Besides the provider it answers GET /v1/auth/whoami, the one resource the
// CLI calls after a login, from the provider's own record of the access
// token; that small resource server is the only part written here.
//
// Federation (pkg/federation's tests, the server signing in upstream): with
// OIDC_PEER_FEDERATION set to JSON {"client_id", "client_secret",
// "redirect_uris": [...]}, it also has that confidential web client
// (client_secret_basic, PKCE, refresh tokens with rotation), the scopes
// email, profile and groups (the `groups` claim: a list of group names,
// served by userinfo), and a test-only control endpoint
// PUT /test/accounts/ID with JSON {"groups": [...], "disabled": bool, "email"}
// that sets an account's groups or disables it at runtime: a disabled
// account cannot sign in and its refresh tokens are refused (invalid_grant).
// Accounts not set that way sign in with no groups.
import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider from 'oidc-provider';

const SCOPES = 'keys:read keys:write audit:read registry:read';
const RESOURCE = 'urn:codesync:api';
// Short-lived access tokens: the CLI refreshes a token that expires within
// 60 s, so the test sees a refresh (with rotation) on the next use.
const ACCESS_TOKEN_TTL = 30;

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const federation = process.env.OIDC_PEER_FEDERATION ? JSON.parse(process.env.OIDC_PEER_FEDERATION) : undefined;
// accountId -> { groups: [...], disabled: bool, email }
const accounts = new Map();

function accountOf(id) {
  return accounts.get(id) || { groups: [], disabled: false };
}

const federationConfig = federation ? {
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name'],
    groups: ['groups'],
  },
  findAccount: async (_ctx, id) => {
    const a = accountOf(id);
    if (a.disabled) return undefined;
    return {
      accountId: id,
      async claims() {
        const cur = accountOf(id);
        return {
          sub: id,
          email: cur.email || `${id}@peer.example`,
          email_verified: true,
          preferred_username: id,
          name: id,
          groups: cur.groups,
        };
      },
    };
  },
} : {};

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'codesync-cli',
    application_type: 'native', // loopback redirect URIs match on any port (RFC 8252 §7.3)
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1/callback'],
  }, ...(federation ? [{
    client_id: federation.client_id,
    client_secret: federation.client_secret,
    application_type: 'web',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: federation.redirect_uris,
  }] : [])],
  ...federationConfig,
  jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'test', use: 'sig', alg: 'RS256' }] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  scopes: federation ? ['openid', 'offline_access', 'email', 'profile', 'groups'] : ['openid', 'offline_access'],
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // The federation client's access tokens are for userinfo, not the API.
      defaultResource: async (_ctx, client) => (client && federation && client.clientId === federation.client_id ? undefined : RESOURCE),
      useGrantedResource: async () => true,
      getResourceServerInfo: async () => ({
        scope: SCOPES,
        accessTokenFormat: 'opaque',
        accessTokenTTL: ACCESS_TOKEN_TTL,
      }),
    },
  },
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  pkce: { required: () => true },
});

const providerCallback = provider.callback();

async function whoami(req, res) {
  const auth = req.headers.authorization || '';
  const m = /^Bearer (.+)$/i.exec(auth);
  const at = m ? await provider.AccessToken.find(m[1]) : undefined;
  res.setHeader('Content-Type', 'application/json');
  if (!at || at.isExpired) {
    res.statusCode = 401;
    res.setHeader('WWW-Authenticate', 'Bearer error="invalid_token"');
    res.end(JSON.stringify({ error: 'invalid_token', error_description: 'unknown or expired access token' }));
    return;
  }
  res.end(JSON.stringify({
    user: { name: at.accountId },
    credential: {
      type: 'oauth',
      id: at.jti.slice(0, 12),
      scopes: (at.scope || '').split(' ').filter(Boolean),
      expires_at: new Date(at.exp * 1000).toISOString(),
      environment: 'production',
    },
  }));
}

server.on('request', (req, res) => {
  // Like many enterprise providers, serve only OpenID discovery, so the
  // CLI's fallback from RFC 8414 to /.well-known/openid-configuration runs.
  if (req.url.startsWith('/.well-known/oauth-authorization-server')) {
    res.statusCode = 404;
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ error: 'not_found' }));
    return;
  }
  const control = /^\/test\/accounts\/([^/?]+)$/.exec(req.url);
  if (federation && req.method === 'PUT' && control) {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      try {
        const v = JSON.parse(body);
        accounts.set(decodeURIComponent(control[1]), {
          groups: Array.isArray(v.groups) ? v.groups : [],
          disabled: Boolean(v.disabled),
          email: v.email,
        });
        res.statusCode = 204;
        res.end();
      } catch (err) {
        res.statusCode = 400;
        res.end(String(err));
      }
    });
    return;
  }
  if (req.method === 'GET' && req.url === '/v1/auth/whoami') {
    whoami(req, res).catch((err) => {
      res.statusCode = 500;
      res.end(JSON.stringify({ error: 'server_error', error_description: String(err) }));
    });
    return;
  }
  providerCallback(req, res);
});

process.stdout.write(`${JSON.stringify({ issuer })}\n`);

function stop() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);

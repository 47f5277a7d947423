// The e2e tests' OpenID Connect identity provider: oidc-provider with one confidential
// client and the users of a JSON file, behind a plain login form (testkit/oidc_idp.py).
//
// Environment: ISSUER (https://<name>:<port>; it listens on that port on 0.0.0.0, with the
// certificate and key in TLS_CERT_FILE and TLS_KEY_FILE, as an institution's provider does),
// CLIENT_ID, CLIENT_SECRET, REDIRECT_URIS and POST_LOGOUT_REDIRECT_URIS (comma separated),
// ACCESS_TOKEN_TTL_S, PKCE_REQUIRED (1|0), USERS_FILE (default /data/users.json:
// {"alice": {"password": "...", "email": "...", "groups": ["students"]}, ...}).
// The users file is read at every login, token and userinfo request, so a test can
// change a user's groups between logins. Every line on stdout is one event.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import Provider, { errors } from 'oidc-provider';

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`oidc-idp: environment variable ${name} is required`);
    process.exit(2);
  }
  return value;
}

const list = (value) => (value ?? '').split(',').map((item) => item.trim()).filter(Boolean);

const ISSUER = required('ISSUER');
const PORT = Number(new URL(ISSUER).port || 443);
const TLS = { cert: readFileSync(required('TLS_CERT_FILE')), key: readFileSync(required('TLS_KEY_FILE')) };
const USERS_FILE = process.env.USERS_FILE || '/data/users.json';
const ACCESS_TOKEN_TTL_S = Number(process.env.ACCESS_TOKEN_TTL_S || 600);
const PKCE_REQUIRED = (process.env.PKCE_REQUIRED ?? '1') === '1';
const MAX_FORM_BYTES = 64 * 1024;

function log(event, fields = {}) {
  const pairs = Object.entries(fields)
    .filter(([, value]) => value !== undefined && value !== '')
    .map(([key, value]) => `${key}=${JSON.stringify(String(value))}`);
  console.log([new Date().toISOString(), event, ...pairs].join(' '));
}

// A read racing a test's rewrite of the file (Docker extracts it in place) may see it
// half written: read again, a few times.
async function readUsers() {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return JSON.parse(await readFile(USERS_FILE, 'utf8'));
    } catch (err) {
      if (!(err instanceof SyntaxError) || attempt >= 5) {
        throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

async function findAccount(_ctx, sub) {
  const user = (await readUsers())[sub];
  if (!user) {
    return undefined;
  }
  return {
    accountId: sub,
    async claims() {
      return {
        sub,
        preferred_username: sub,
        name: user.name ?? sub,
        email: user.email,
        email_verified: Boolean(user.email),
        groups: user.groups ?? [],
      };
    },
  };
}

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// Self-contained pages: oidc-provider's own import a web font, which a test browser
// would try to fetch from the internet.
function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body><main><h1>${escapeHtml(title)}</h1>
${body}
</main></body></html>`;
}

function loginPage(uid, clientId, login = '', error = '') {
  return page('Sign in', `<p>to ${escapeHtml(clientId)}</p>
${error ? `<p id="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form id="login-form" method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
<label for="login">User name</label> <input id="login" name="login" type="text" value="${escapeHtml(login)}" required autofocus>
<label for="password">Password</label> <input id="password" name="password" type="password" required>
<button id="submit" type="submit">Sign in</button>
</form>`);
}

// A key made at each start: tokens of an earlier run are not to be trusted anyway.
const signingKey = {
  ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
  kid: randomBytes(8).toString('hex'),
  use: 'sig',
  alg: 'RS256',
};

const provider = new Provider(ISSUER, {
  clients: [
    {
      client_id: required('CLIENT_ID'),
      client_secret: required('CLIENT_SECRET'),
      redirect_uris: list(required('REDIRECT_URIS')),
      post_logout_redirect_uris: list(process.env.POST_LOGOUT_REDIRECT_URIS),
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      // oidc-provider accepts client_secret_post from a client registered with
      // client_secret_basic, and the other way round (lib/shared/client_auth.js).
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [signingKey] },
  findAccount,
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name'],
    email: ['email', 'email_verified'],
    groups: ['groups'], // the scope `groups` carries the claim `groups`
  },
  // Scope claims in the ID token too, not only from userinfo (OIDC Core 5.4's default
  // when an access token is issued).
  conformIdTokenClaims: false,
  // Without offline_access too: JupyterHub's OAuthenticator asks for no such scope.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  pkce: { required: () => PKCE_REQUIRED },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  ttl: {
    AccessToken: ACCESS_TOKEN_TTL_S,
    IdToken: ACCESS_TOKEN_TTL_S,
    AuthorizationCode: 60,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
    RefreshToken: 3600,
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource: async (ctx, form) => {
        ctx.body = page('Sign out', `${form}<button id="logout" type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>`);
      },
      postLogoutSuccessSource: async (ctx) => {
        ctx.body = page('Signed out', '<p>You are signed out.</p>');
      },
    },
  },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = page('Error', Object.entries(out).map(([key, value]) => `<p>${escapeHtml(key)}: ${escapeHtml(value)}</p>`).join('\n'));
  },
});

const clientOf = (ctx) => ctx.oidc?.client?.clientId;
const accountOf = (ctx) => ctx.oidc?.entities?.Account?.accountId ?? ctx.oidc?.session?.accountId;
provider.on('grant.success', (ctx) => log('token ok', { grant_type: ctx.oidc.params.grant_type, client: clientOf(ctx), user: accountOf(ctx) }));
provider.on('grant.error', (ctx, err) =>
  log('token error', { grant_type: ctx.oidc?.params?.grant_type, client: clientOf(ctx), error: err.error, description: err.error_description }),
);
provider.on('authorization.success', (ctx) => log('authorization ok', { client: clientOf(ctx), user: accountOf(ctx) }));
provider.on('authorization.error', (ctx, err) => log('authorization error', { client: clientOf(ctx), error: err.error, description: err.error_description }));
provider.on('userinfo.error', (_ctx, err) => log('userinfo error', { error: err.error, description: err.error_description }));
provider.on('end_session.success', (ctx) => log('logout ok', { client: clientOf(ctx) }));
provider.on('server_error', (_ctx, err) => log('server error', { error: err.stack ?? err }));

async function readForm(req) {
  let size = 0;
  const chunks = [];
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) {
      throw new errors.InvalidRequest('form too large');
    }
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function sendHtml(res, status, html) {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(html);
}

// The consent prompt is answered in code: the test client is first-party.
async function grantConsent(req, res, interaction) {
  const { prompt, params, session } = interaction;
  const grant = interaction.grantId
    ? await provider.Grant.find(interaction.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) {
    grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  }
  if (prompt.details.missingOIDCClaims) {
    grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  }
  for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  const consent = interaction.grantId ? {} : { grantId };
  await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    throw new errors.SessionNotFound('interaction mismatch');
  }
  const clientId = details.params.client_id;
  if (req.method === 'GET' && !action) {
    if (details.prompt.name === 'consent') {
      return grantConsent(req, res, details);
    }
    return sendHtml(res, 200, loginPage(uid, clientId));
  }
  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    const login = form.get('login') ?? '';
    const user = (await readUsers())[login];
    if (!user || typeof user.password !== 'string' || user.password !== (form.get('password') ?? '')) {
      log('login failed', { user: login, client: clientId });
      return sendHtml(res, 200, loginPage(uid, clientId, login, 'Wrong user name or password.'));
    }
    log('login ok', { user: login, client: clientId });
    return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  }
  return sendHtml(res, 405, page('Error', '<p>Method not allowed.</p>'));
}

const callback = provider.callback();
const INTERACTION_PATH = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login))?$/;

const server = createServer(TLS, async (req, res) => {
  const match = INTERACTION_PATH.exec(new URL(req.url, 'http://idp').pathname);
  if (!match) {
    return callback(req, res);
  }
  try {
    await interaction(req, res, match[1], match[2]);
  } catch (err) {
    log('interaction error', { error: err.error ?? err.message, description: err.error_description });
    if (!res.headersSent) {
      sendHtml(res, err.statusCode ?? 500, page('Error', `<p>${escapeHtml(err.error_description ?? err.message)}</p>`));
    }
  }
});

server.listen(PORT, '0.0.0.0', () => log('listening', { issuer: ISSUER, port: PORT }));

// PID 1 in its container: without handlers, SIGTERM and SIGINT would be ignored.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    log('stopping', { signal });
    server.close();
    process.exit(0);
  });
}

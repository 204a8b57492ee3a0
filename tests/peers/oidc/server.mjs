// A real OpenID provider (oidc-provider 9.13.3) for authstate's integration tests.
//
// Environment:
//   PORT              required; listens on 127.0.0.1:$PORT, issuer http(s)://127.0.0.1:$PORT
//   TLS_CERT, TLS_KEY PEM files: serve HTTPS (issuer https://…); plain HTTP without them.
//                     RFC 7009 revocation is HTTPS-only for clients such as Rust's oauth2.
//   STATE_DIR         where keys and the token store live, so that both survive a
//                     restart (default: a fresh temp dir, i.e. nothing survives)
//   ACCESS_TOKEN_TTL  access token lifetime in seconds (default 60)
//   REFRESH_TOKEN_TTL refresh token lifetime in seconds (default 86400)
//   REDIRECT_URIS     extra redirect URIs for the client, comma-separated
//
// Test-only routes, answered before the provider sees the request:
//   GET  /__test/counts  -> {"token": n, "revocation": n, "userinfo": n}
//   POST /__test/reset   -> zeroes the counts (204)
//
// Prints exactly one line `READY <port>` on stdout once listening.

import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';

import Provider from 'oidc-provider';

const env = (name, fallback) => {
  const value = process.env[name];
  return value === undefined || value === '' ? fallback : value;
};
const seconds = (name, fallback) => {
  const value = Number(env(name, String(fallback)));
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`${name} must be a positive integer number of seconds`);
  }
  return value;
};

const PORT = Number(process.env.PORT);
if (!Number.isInteger(PORT) || PORT <= 0 || PORT > 65535) {
  console.error('PORT is required (1..65535)');
  process.exit(2);
}
const TLS_CERT = env('TLS_CERT', '');
const TLS_KEY = env('TLS_KEY', '');
const SCHEME = TLS_CERT && TLS_KEY ? 'https' : 'http';
const ISSUER = `${SCHEME}://127.0.0.1:${PORT}`;
const STATE_DIR = env('STATE_DIR', fs.mkdtempSync(path.join(os.tmpdir(), 'authstate-oidc-')));
const ACCESS_TOKEN_TTL = seconds('ACCESS_TOKEN_TTL', 60);
const REFRESH_TOKEN_TTL = seconds('REFRESH_TOKEN_TTL', 24 * 60 * 60);
const REDIRECT_URIS = [
  'http://127.0.0.1/callback',
  ...env('REDIRECT_URIS', '').split(',').map((s) => s.trim()).filter(Boolean),
];
const ROUTES = { token: '/token', revocation: '/token/revocation', userinfo: '/me' };

fs.mkdirSync(STATE_DIR, { recursive: true });

// ---------------------------------------------------------------------------
// Files: written via a temp file + rename so a kill never leaves half a file.

function writeAtomic(file, text) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

// Signing key and cookie keys: made on first start, reused afterwards, so
// tokens, ID tokens and cookies issued before a restart stay valid.
function loadOrCreateKeys() {
  const file = path.join(STATE_DIR, 'keys.json');
  if (fs.existsSync(file)) {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = {
    ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256',
  };
  const keys = { jwks: { keys: [jwk] }, cookieKeys: [randomBytes(32).toString('base64url')] };
  writeAtomic(file, JSON.stringify(keys));
  return keys;
}

// ---------------------------------------------------------------------------
// A persistent adapter: entries live in memory and every change is appended
// to a journal in STATE_DIR (one JSON line each, written synchronously), so
// the store survives the process being killed. At start the journal is
// replayed, expired entries dropped, and it is rewritten compacted.

const GRANTABLE = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest', 'PreAuthorizedCode',
]);

class Store {
  constructor(file) {
    this.file = file;
    this.entries = new Map(); // "Model:id" -> { payload, expiresAt (ms epoch) | null }
    this.load();
  }

  load() {
    if (fs.existsSync(this.file)) {
      for (const line of fs.readFileSync(this.file, 'utf8').split('\n')) {
        if (!line) continue;
        let op;
        try {
          op = JSON.parse(line);
        } catch {
          continue; // a torn last line from a kill mid-write
        }
        if (op.set) this.entries.set(op.set, { payload: op.payload, expiresAt: op.expiresAt });
        else if (op.del) this.entries.delete(op.del);
      }
    }
    const now = Date.now();
    const lines = [];
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt !== null && entry.expiresAt <= now) this.entries.delete(key);
      else lines.push(JSON.stringify({ set: key, ...entry }));
    }
    writeAtomic(this.file, lines.map((l) => `${l}\n`).join(''));
  }

  append(op) {
    fs.appendFileSync(this.file, `${JSON.stringify(op)}\n`);
  }

  get(key) {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== null && entry.expiresAt <= Date.now()) {
      this.delete(key);
      return undefined;
    }
    return entry;
  }

  set(key, payload, expiresAt) {
    this.entries.set(key, { payload, expiresAt });
    this.append({ set: key, payload, expiresAt });
  }

  delete(key) {
    if (this.entries.delete(key)) this.append({ del: key });
  }

  // Linear scans: the test store holds at most a few thousand entries.
  findKey(predicate) {
    for (const [key, entry] of this.entries) {
      if (predicate(key, entry.payload) && this.get(key)) return key;
    }
    return undefined;
  }
}

let store; // made once STATE_DIR is known, before the provider is

const clone = (value) => (value === undefined ? undefined : structuredClone(value));

class JournalAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : null;
    store.set(this.key(id), clone(payload), expiresAt);
  }

  async find(id) {
    return clone(store.get(this.key(id))?.payload);
  }

  async findByUid(uid) {
    const prefix = `${this.model}:`;
    const key = store.findKey((k, p) => k.startsWith(prefix) && p.uid === uid);
    return key && clone(store.get(key).payload);
  }

  async findByUserCode(userCode) {
    const prefix = `${this.model}:`;
    const key = store.findKey((k, p) => k.startsWith(prefix) && p.userCode === userCode);
    return key && clone(store.get(key).payload);
  }

  async consume(id) {
    const key = this.key(id);
    const entry = store.get(key);
    if (entry) {
      store.set(key, { ...entry.payload, consumed: Math.floor(Date.now() / 1000) }, entry.expiresAt);
    }
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const [key, entry] of [...store.entries]) {
      if (GRANTABLE.has(key.slice(0, key.indexOf(':'))) && entry.payload.grantId === grantId) {
        store.delete(key);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// The provider.

const keys = loadOrCreateKeys();
store = new Store(path.join(STATE_DIR, 'store.jsonl'));

const provider = new Provider(ISSUER, {
  adapter: JournalAdapter,
  clients: [{
    client_id: 'authstate-test',
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: REDIRECT_URIS,
  }],
  jwks: keys.jwks,
  cookies: { keys: keys.cookieKeys },
  routes: ROUTES,
  // The default 15 s keeps expired opaque access tokens working.
  clockTolerance: 0,
  pkce: { required: () => true },
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
  rotateRefreshToken: true,
  issueRefreshToken: async (_ctx, client, code) => (
    client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access')
  ),
  features: {
    devInteractions: { enabled: true },
    revocation: { enabled: true },
    userinfo: { enabled: true },
  },
  ttl: {
    AccessToken: ACCESS_TOKEN_TTL,
    AuthorizationCode: 60,
    IdToken: 60 * 60,
    RefreshToken: REFRESH_TOKEN_TTL,
    Interaction: 60 * 60,
    Session: 24 * 60 * 60,
    Grant: 14 * 24 * 60 * 60,
  },
  // Any login name signs in; the subject is that name.
  findAccount: async (_ctx, sub) => ({
    accountId: sub,
    claims: async () => ({
      sub, name: sub, email: `${sub}@example.test`, email_verified: true,
    }),
  }),
});

// Errors carry their real reason only in `error_detail`: log them.
const ERROR_EVENTS = [
  'grant.error', 'userinfo.error', 'revocation.error', 'authorization.error',
  'introspection.error', 'end_session.error', 'discovery.error', 'jwks.error',
  'backchannel.error', 'server_error',
];
for (const name of ERROR_EVENTS) {
  provider.on(name, (ctx, err) => {
    const detail = err?.error_detail ? ` (${err.error_detail})` : '';
    const stack = name === 'server_error' ? `\n${err?.stack}` : '';
    console.error(`[oidc] ${name} ${ctx?.method} ${ctx?.path}: ${err?.error ?? err?.message}${detail}${stack}`);
  });
}
provider.on('grant.revoked', (_ctx, grantId) => console.error(`[oidc] grant.revoked ${grantId}`));
for (const model of ['refresh_token', 'authorization_code']) {
  provider.on(`${model}.destroyed`, (token) => console.error(`[oidc] ${model}.destroyed grant=${token.grantId}`));
}

// Request counts per endpoint, and the test-only routes that expose them.
const counts = { token: 0, revocation: 0, userinfo: 0 };
provider.use(async (ctx, next) => {
  if (ctx.path === '/__test/counts' && ctx.method === 'GET') {
    ctx.body = counts;
    return;
  }
  if (ctx.path === '/__test/reset' && ctx.method === 'POST') {
    for (const k of Object.keys(counts)) counts[k] = 0;
    ctx.status = 204;
    return;
  }
  if (ctx.method === 'POST' && ctx.path === ROUTES.token) counts.token += 1;
  else if (ctx.method === 'POST' && ctx.path === ROUTES.revocation) counts.revocation += 1;
  else if ((ctx.method === 'GET' || ctx.method === 'POST') && ctx.path === ROUTES.userinfo) counts.userinfo += 1;
  await next();
});

const ready = () => process.stdout.write(`READY ${PORT}\n`);
const server = SCHEME === 'https'
  ? https
    .createServer({ cert: fs.readFileSync(TLS_CERT), key: fs.readFileSync(TLS_KEY) }, provider.callback())
    .listen(PORT, '127.0.0.1', ready)
  : provider.listen(PORT, '127.0.0.1', ready);
server.on('error', (err) => {
  console.error(`[oidc] cannot listen on 127.0.0.1:${PORT}: ${err.message}`);
  process.exit(1);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

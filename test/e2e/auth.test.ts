// Authentication and authorization over real HTTP: OIDC JWTs against a local JWKS server, API tokens, scopes, rate limits.
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES, type Scope } from '../../src/auth/principal.ts';
import { DEMO_FILES, TestRepo } from '../helpers/git-repo.ts';
import { freePort } from '../helpers/server-process.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const BIN = fileURLToPath(new URL('../../bin/sandrun.js', import.meta.url));
const ISSUER = 'https://issuer.sandrun.test/';
const AUDIENCE = 'https://api.sandrun.test';

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

async function makeKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return { kid, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

/** A JWKS endpoint whose key set the test can rotate; counts the fetches. */
async function startJwksServer(keys: () => JWK[]): Promise<{ url: string; fetches: () => number; close: () => Promise<void> }> {
  let fetches = 0;
  const server: Server = createServer((_request, response) => {
    fetches += 1;
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: keys() }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    fetches: () => fetches,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

let server: TestServer;
let jwks: Awaited<ReturnType<typeof startJwksServer>>;
let published: JWK[] = [];
let key1: SigningKey;
let repo: TestRepo;

const nowSeconds = () => Math.floor(Date.now() / 1000);

function sign(key: SigningKey, claims: JWTPayload = {}, options: { issuer?: string; audience?: string; expiresAt?: number } = {}): Promise<string> {
  return new SignJWT({ org_id: 'jwt-org', permissions: [...SCOPES.filter((scope) => scope !== 'admin')], ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
    .setIssuer(options.issuer ?? ISSUER)
    .setAudience(options.audience ?? AUDIENCE)
    .setSubject('auth0|user-1')
    .setIssuedAt()
    .setExpirationTime(options.expiresAt ?? nowSeconds() + 300)
    .sign(key.privateKey);
}

async function expectUnauthorized(token: string, reason: RegExp): Promise<void> {
  const response = await server.request(token, 'GET', '/v1/projects');
  expect(response.status, JSON.stringify(response.body)).toBe(401);
  expect(response.body.error.code).toBe('unauthorized');
  expect(response.body.error.message).toMatch(reason);
  expect(response.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_token"/);
}

beforeAll(async () => {
  key1 = await makeKey('key-1');
  published = [key1.jwk];
  jwks = await startJwksServer(() => published);
  server = await startTestServer({
    SANDRUN_JWT_ISSUER: ISSUER,
    SANDRUN_JWT_AUDIENCE: AUDIENCE,
    SANDRUN_JWT_JWKS_URL: jwks.url,
    SANDRUN_JWT_JWKS_COOLDOWN_SECONDS: '1',
    // The test's JWKS server is on loopback, where server-side fetches may not go by default.
    SANDRUN_ALLOW_PRIVATE_DESTINATIONS: '1',
  });
  repo = new TestRepo(DEMO_FILES);
});
afterAll(async () => {
  await server?.close();
  await jwks?.close();
  repo?.remove();
});

describe('OIDC JWTs', () => {
  it('a valid JWT lists, registers and runs the projects of the tenant its org_id claim names', async () => {
    const token = await sign(key1);
    const listed = await server.request(token, 'GET', '/v1/projects');
    expect(listed.status, JSON.stringify(listed.body)).toBe(200);
    expect(listed.body).toEqual({ projects: [] });
    // jwt-org exists nowhere but in the JWT: registering its first project creates the tenant.
    const created = await server.request(token, 'POST', '/v1/projects', { name: 'jwt-demo', repo_url: repo.dir });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const run = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'jwt-demo', model_name: 'revenue' });
    expect(run.status, JSON.stringify(run.body)).toBe(200);
    expect(run.body.status, run.body.stderr).toBe('success');
    expect(run.body.outputs.revenue).toEqual([100, 110, 121]);
    // An API token of the same tenant sees what the JWT made.
    const viaApiToken = await server.request(await server.token('jwt-org'), 'GET', '/v1/projects');
    expect(viaApiToken.body.projects.map((p: any) => p.name)).toEqual(['jwt-demo']);
  });

  it('takes scopes from a space-separated scope claim, and only those', async () => {
    const token = await sign(key1, { permissions: undefined, scope: 'openid profile projects:read' });
    expect((await server.request(token, 'GET', '/v1/projects')).status).toBe(200);
    const denied = await server.request(token, 'GET', '/v1/runs');
    expect(denied.status).toBe(403);
    expect(denied.body.error.message).toMatch(/runs:read/);
  });

  it('rejects a JWT for another audience', async () => {
    await expectUnauthorized(await sign(key1, {}, { audience: 'https://someone-else.test' }), /audience/);
  });

  it('rejects a JWT from another issuer', async () => {
    await expectUnauthorized(await sign(key1, {}, { issuer: 'https://evil.test/' }), /issuer/);
  });

  it('rejects an expired JWT', async () => {
    await expectUnauthorized(await sign(key1, { iat: nowSeconds() - 3600 }, { expiresAt: nowSeconds() - 600 }), /expired/);
  });

  it('rejects a JWT that is not valid yet', async () => {
    await expectUnauthorized(await sign(key1, { nbf: nowSeconds() + 600 }), /not valid yet/);
  });

  it('rejects an unsigned alg:none JWT', async () => {
    const payload = { iss: ISSUER, aud: AUDIENCE, sub: 'attacker', org_id: 'jwt-org', permissions: ['admin'], exp: nowSeconds() + 300 };
    await expectUnauthorized(`${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(payload)}.`, /algorithm is not allowed/);
  });

  it('rejects an HS256 JWT "signed" with the public key PEM as the HMAC secret', async () => {
    const pem = await exportSPKI(key1.publicKey);
    const forged = await new SignJWT({ org_id: 'jwt-org', permissions: ['admin'] })
      .setProtectedHeader({ alg: 'HS256', kid: key1.kid })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('attacker')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(pem));
    await expectUnauthorized(forged, /algorithm is not allowed/);
  });

  it('rejects a JWT signed by a key the issuer does not publish', async () => {
    await expectUnauthorized(await sign(await makeKey('stranger')), /no key/);
    // Same kid as the real key, different key material: the signature does not verify.
    const impostor = { ...(await makeKey(key1.kid)) };
    await expectUnauthorized(await sign(impostor), /signature/);
  });

  it('rejects a garbled JWT', async () => {
    await expectUnauthorized('not.a.jwt', /malformed|cannot be verified/);
  });

  it('rejects a JWT without the tenant claim, naming the claim', async () => {
    await expectUnauthorized(await sign(key1, { org_id: undefined }), /"org_id" claim/);
    await expectUnauthorized(await sign(key1, { org_id: '../other tenant' }), /"org_id" claim is not a valid tenant name/);
  });

  it('picks up a rotated key (new kid) from the JWKS', async () => {
    const key2 = await makeKey('key-2');
    published = [key2.jwk];
    // Past jose's cooldown (1 s here), an unknown kid makes it fetch the set again.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const before = jwks.fetches();
    const response = await server.request(await sign(key2), 'GET', '/v1/projects');
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(jwks.fetches()).toBeGreaterThan(before);
    // The retired key is gone from the set: once the cache is refreshed its tokens no longer verify.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    await expectUnauthorized(await sign(key1), /no key/);
  });
});

describe("when the issuer's key set cannot be had", () => {
  /** A server whose JWKS is at `jwksUrl`; the JWT is one that the working JWKS accepts. */
  async function statusWithJwks(jwksUrl: string, env: Record<string, string> = { SANDRUN_ALLOW_PRIVATE_DESTINATIONS: '1' }) {
    const other = await startTestServer({ SANDRUN_JWT_ISSUER: ISSUER, SANDRUN_JWT_AUDIENCE: AUDIENCE, SANDRUN_JWT_JWKS_URL: jwksUrl, ...env });
    try {
      return await other.request(await sign(key1), 'GET', '/v1/projects');
    } finally {
      await other.close();
    }
  }

  function expectOutage(response: { status: number; body: any; headers: Headers }, reason: RegExp): void {
    expect(response.status, JSON.stringify(response.body)).toBe(503);
    expect(response.body.error.code).toBe('auth_unavailable');
    expect(response.body.error.message).toMatch(/^the issuer's key set \(JWKS\) is unavailable, so no JWT can be verified now; try again later: /);
    expect(response.body.error.message).toMatch(reason);
    expect(response.headers.get('www-authenticate'), 'a client is not told its token is bad').toBeNull();
  }

  it('an unreachable JWKS answers 503 auth_unavailable, not 401', async () => {
    expectOutage(await statusWithJwks(`http://127.0.0.1:${await freePort()}/jwks.json`), /could not connect \(ECONNREFUSED\)/);
  });

  it('a JWKS answering 500 answers 503 auth_unavailable, without its text', async () => {
    const failing: Server = createServer((_request, response) => response.writeHead(500).end('ISSUER-INTERNALS'));
    await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve));
    try {
      const response = await statusWithJwks(`http://127.0.0.1:${(failing.address() as AddressInfo).port}/jwks.json`);
      expectOutage(response, /it answered HTTP 500$/);
      expect(JSON.stringify(response.body)).not.toContain('ISSUER-INTERNALS');
    } finally {
      await new Promise((resolve) => failing.close(resolve));
    }
  });

  it('a JWKS URL on a loopback address is refused unless SANDRUN_ALLOW_PRIVATE_DESTINATIONS=1, before any request', async () => {
    const before = jwks.fetches();
    const response = await statusWithJwks(jwks.url, {});
    expectOutage(response, /SANDRUN_JWT_JWKS_URL host 127\.0\.0\.1 resolves to a loopback address; set SANDRUN_ALLOW_PRIVATE_DESTINATIONS=1 to allow it/);
    expect(jwks.fetches(), 'requests that reached the JWKS server').toBe(before);
  });
});

describe('API tokens', () => {
  it('a missing credential gets 401 with a bare Bearer challenge (RFC 6750: no error code)', async () => {
    const response = await fetch(`${server.url}/v1/projects`);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="sandrun"');
  });

  it('rejects a malformed token, and a well-formed unknown one', async () => {
    await expectUnauthorized('sr_short', /malformed/);
    await expectUnauthorized(`sr_${'A'.repeat(43)}`, /not valid/);
  });

  it('rejects an expired API token', async () => {
    const { token } = await server.sandrun.apiTokens.create({ tenantId: 'tok-tenant', scopes: ['projects:read'], expiresAt: new Date(Date.now() - 1_000) });
    await expectUnauthorized(token, /expired/);
  });

  it('an admin creates a token (shown once), lists it without its secret, and revokes it: then it gets 401', async () => {
    const admin = await server.token('tok-tenant', ['admin']);
    const created = await server.request(admin, 'POST', '/v1/tokens', { tenant: 'tok-tenant', scopes: ['projects:read'], name: 'ci', expires_in_days: 30 });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ tenant: 'tok-tenant', name: 'ci', scopes: ['projects:read'], revoked_at: null });
    expect(created.body.token).toMatch(/^sr_/);
    expect(Date.parse(created.body.expires_at) - Date.now()).toBeGreaterThan(29 * 86_400_000);
    expect((await server.request(created.body.token, 'GET', '/v1/projects')).status).toBe(200);

    const listed = await server.request(admin, 'GET', '/v1/tokens');
    expect(listed.status).toBe(200);
    expect(listed.body.tokens.map((t: any) => t.id)).toContain(created.body.id);
    expect(JSON.stringify(listed.body)).not.toContain(created.body.token);

    expect((await server.request(admin, 'DELETE', `/v1/tokens/${created.body.id}`)).status).toBe(204);
    await expectUnauthorized(created.body.token, /revoked/);
    expect((await server.request(admin, 'GET', '/v1/tokens')).body.tokens.find((t: any) => t.id === created.body.id).revoked_at).not.toBeNull();
  });

  it('a token shows when it was last used, in GET /v1/tokens and in `sandrun tokens list`', async () => {
    const admin = await server.token('used-tenant', ['admin']);
    const { token, record } = await server.sandrun.apiTokens.create({ tenantId: 'used-tenant', scopes: ['projects:read'], name: 'poller' });
    const lastUsed = async () => (await server.request(admin, 'GET', '/v1/tokens')).body.tokens.find((t: any) => t.id === record.id).last_used_at;
    expect(await lastUsed(), 'never used').toBeNull();
    const before = Date.now();
    expect((await server.request(token, 'GET', '/v1/projects')).status).toBe(200);
    const used = await lastUsed();
    expect(used, 'set by its first use').not.toBeNull();
    expect(Date.parse(used)).toBeGreaterThanOrEqual(before - 1_000);
    const listed = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [BIN, 'tokens', 'list', '--json', '--tenant', 'used-tenant'], { env: { ...process.env, SANDRUN_DATA_DIR: server.dataDir } }, (error, stdout, stderr) =>
        error ? reject(new Error(`sandrun tokens list failed: ${stderr}`, { cause: error })) : resolve(stdout),
      ),
    );
    expect(JSON.parse(listed).tokens.find((t: any) => t.id === record.id)).toMatchObject({ name: 'poller', last_used_at: used });
  });

  it("an admin acts within its own tenant only: another tenant's token is 404, creating for another tenant is 403", async () => {
    const admin = await server.token('tok-tenant', ['admin']);
    const other = await server.sandrun.apiTokens.create({ tenantId: 'other-tenant', scopes: ['runs:read'] });
    expect((await server.request(admin, 'DELETE', `/v1/tokens/${other.record.id}`)).status).toBe(404);
    expect((await server.request(other.token, 'GET', '/v1/runs')).status).toBe(200);
    const listed = await server.request(admin, 'GET', '/v1/tokens');
    expect(listed.body.tokens.every((t: any) => t.tenant === 'tok-tenant')).toBe(true);
    const forOther = await server.request(admin, 'POST', '/v1/tokens', { tenant: 'other-tenant', scopes: ['admin'] });
    expect(forOther.status).toBe(403);
    const invalid = await server.request(admin, 'POST', '/v1/tokens', { scopes: ['root'] });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.message).toMatch(/scopes/);
  });
});

describe('scopes', () => {
  const RUN_ID = '00000000-0000-4000-8000-000000000000';
  const routes: Array<{ method: string; path: string; scope: Scope; body?: unknown }> = [
    { method: 'POST', path: '/v1/runs', scope: 'runs:write', body: { scope: 'project', mode: 'async', project_name: 'x' } },
    { method: 'GET', path: `/v1/runs/${RUN_ID}`, scope: 'runs:read' },
    { method: 'GET', path: '/v1/runs', scope: 'runs:read' },
    { method: 'POST', path: `/v1/runs/${RUN_ID}/cancel`, scope: 'runs:write' },
    { method: 'GET', path: `/v1/runs/${RUN_ID}/logs?follow=1`, scope: 'runs:read' },
    { method: 'POST', path: '/v1/projects', scope: 'projects:write', body: { name: 'x', repo_url: '/nowhere' } },
    { method: 'GET', path: '/v1/projects', scope: 'projects:read' },
    { method: 'GET', path: '/v1/projects/x', scope: 'projects:read' },
    { method: 'POST', path: '/v1/projects/x/refresh', scope: 'projects:write' },
    { method: 'DELETE', path: '/v1/projects/x', scope: 'projects:write' },
    { method: 'POST', path: '/v1/projects/x/environment/build', scope: 'projects:write' },
    { method: 'GET', path: '/v1/projects/x/environment/log?follow=1', scope: 'projects:read' },
    { method: 'PUT', path: '/v1/projects/x/secrets/API_TOKEN', scope: 'projects:write', body: { value: 'v' } },
    { method: 'GET', path: '/v1/projects/x/secrets', scope: 'projects:read' },
    { method: 'DELETE', path: '/v1/projects/x/secrets/API_TOKEN', scope: 'projects:write' },
    { method: 'GET', path: '/v1/tokens', scope: 'admin' },
    { method: 'POST', path: '/v1/tokens', scope: 'admin', body: { scopes: ['admin'] } },
    { method: 'DELETE', path: `/v1/tokens/${RUN_ID}`, scope: 'admin' },
  ];

  for (const route of routes) {
    it(`${route.method} ${route.path} without ${route.scope} is 403`, async () => {
      // Every scope but the needed one; admin grants everything, so it is left out too.
      const scopes = SCOPES.filter((scope) => scope !== route.scope && scope !== 'admin');
      const response = await server.request(await server.token('scope-tenant', scopes), route.method, route.path, route.body);
      expect(response.status, JSON.stringify(response.body)).toBe(403);
      expect(response.body.error).toMatchObject({ code: 'forbidden' });
      expect(response.body.error.message).toContain(route.scope);
      expect(response.headers.get('www-authenticate')).toContain(`error="insufficient_scope", scope="${route.scope}"`);
    });
  }
});

describe('rate limit', () => {
  it('past SANDRUN_RATE_LIMIT_PER_MINUTE a tenant gets 429 rate_limited with Retry-After; another tenant is unaffected', async () => {
    const limited = await startTestServer({ SANDRUN_RATE_LIMIT_PER_MINUTE: '3' });
    try {
      const token = await limited.token('busy', ['projects:read']);
      for (let i = 0; i < 3; i += 1) expect((await limited.request(token, 'GET', '/v1/projects')).status).toBe(200);
      const refused = await limited.request(token, 'GET', '/v1/projects');
      expect(refused.status).toBe(429);
      expect(refused.body.error.code).toBe('rate_limited');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect((await limited.request(await limited.token('quiet', ['projects:read']), 'GET', '/v1/projects')).status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it("a tenant's four tokens share its limit: together they get 429 past it, and another tenant is unaffected", async () => {
    const limited = await startTestServer({ SANDRUN_RATE_LIMIT_PER_MINUTE: '8' });
    try {
      const tokens = await Promise.all(Array.from({ length: 4 }, () => limited.token('minting', ['projects:read'])));
      const statuses: number[] = [];
      // Round-robin over the four: two requests each use up the tenant's eight.
      for (let i = 0; i < 12; i += 1) statuses.push((await limited.request(tokens[i % 4]!, 'GET', '/v1/projects')).status);
      expect(statuses, 'eight answered, then 429 whichever token is used').toEqual([...Array(8).fill(200), ...Array(4).fill(429)]);
      const refused = await limited.request(await limited.token('minting', ['projects:read']), 'GET', '/v1/projects');
      expect(refused.status, 'a fifth token minted now is limited too').toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect((await limited.request(await limited.token('bystander', ['projects:read']), 'GET', '/v1/projects')).status, 'another tenant').toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('each call of an MCP batch counts against the limit', async () => {
    const limited = await startTestServer({ SANDRUN_RATE_LIMIT_PER_MINUTE: '6' });
    try {
      const token = await limited.token('batcher', ['projects:read']);
      const mcp = (messages: unknown) =>
        fetch(`${limited.url}/mcp`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
          body: JSON.stringify(messages),
        });
      const listProjects = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'list_projects', arguments: {} } });
      const batch = await mcp([1, 2, 3, 4, 5].map(listProjects));
      expect(batch.status, await batch.text()).toBe(200);
      expect((await mcp(listProjects(6))).status, 'the sixth call').toBe(200);
      const refused = await mcp(listProjects(7));
      expect(refused.status, 'five calls in one request cost five').toBe(429);
      expect(refused.headers.get('retry-after')).not.toBeNull();
      const tooBig = await fetch(`${limited.url}/mcp`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await limited.token('batcher-2', ['projects:read'])}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify([1, 2, 3, 4, 5, 6, 7].map(listProjects)),
      });
      expect(tooBig.status, 'a batch larger than a minute of requests can never pass').toBe(429);
      expect(((await tooBig.json()) as any).error.message).toMatch(/7 calls, more than this tenant's 6 requests a minute/);
    } finally {
      await limited.close();
    }
  });
});

// `sandrun secrets rotate-key`: every secret, repository credential and webhook secret re-sealed with a new key, all or nothing, the old ciphertexts gone from the file.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCredential, sealCredential } from '../../src/projects/repo-credential.ts';
import { SecretBox, loadSecretsKey } from '../../src/secrets/secret-box.ts';
import { ProjectStore } from '../../src/store/project-store.ts';
import { WebhookStore } from '../../src/store/webhook-store.ts';
import { webhookSealingContext } from '../../src/webhooks/webhook-service.ts';
import { startTestServer } from '../helpers/server.ts';
import { TestRepo } from '../helpers/git-repo.ts';

const BIN = fileURLToPath(new URL('../../bin/sandrun.js', import.meta.url));
const TOKEN_VALUE = `ghp_rotation_${randomBytes(6).toString('hex')}`;

let repo: TestRepo;
const dirs: string[] = [];

function rotate(dataDir: string, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, SANDRUN_DATA_DIR: dataDir, NO_COLOR: '1', ...env };
    if (!('SANDRUN_SECRETS_KEY' in env)) delete childEnv.SANDRUN_SECRETS_KEY;
    if (!('SANDRUN_SECRETS_NEW_KEY' in env)) delete childEnv.SANDRUN_SECRETS_NEW_KEY;
    execFile(process.execPath, [BIN, 'secrets', 'rotate-key', '--json'], { env: childEnv, encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

/**
 * A data directory whose database holds one project with a secret and a repository credential (sealed with the key
 * `env` configures, or the key file), the server stopped. Returns the project's id and the sealed texts as stored.
 */
async function seeded(env: Record<string, string>, value: string): Promise<{ dataDir: string; projectId: string; sealed: string[] }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sandrun-rotate-'));
  dirs.push(dataDir);
  const server = await startTestServer(env, { dataDir });
  try {
    const token = await server.token('rotation');
    expect((await server.request(token, 'POST', '/v1/projects', { name: 'demo', repo_url: repo.dir })).status).toBe(201);
    expect((await server.request(token, 'PUT', '/v1/projects/demo/secrets/DB_PASSWORD', { value })).status).toBe(201);
    const project = await server.sandrun.projectService.require('rotation', 'demo');
    // A credential as the server seals one (registering an https repository with a token needs a server to fetch from).
    const box = new SecretBox(loadSecretsKey(dataDir, server.sandrun.config.secretsKey));
    const projects = new ProjectStore(server.sandrun.database);
    await projects.setRepository(project.id, project.repoUrl, sealCredential(box, project.id, { type: 'https_token', username: 'x-access-token', token: TOKEN_VALUE }));
    const secretRow = server.sandrun.database.sqlite!.prepare('SELECT sealed FROM project_secrets').get() as { sealed: string };
    return { dataDir, projectId: project.id, sealed: [secretRow.sealed, (await projects.byName('rotation', 'demo'))!.credential!.sealed] };
  } finally {
    await server.close();
  }
}

/** What a server on `dataDir` (with `env`) makes of the stored values: the secret's value and the credential's token. */
async function opened(dataDir: string, env: Record<string, string>): Promise<{ secrets: Record<string, string>; token: string | undefined }> {
  const server = await startTestServer(env, { dataDir });
  try {
    const project = await server.sandrun.projectService.require('rotation', 'demo');
    const box = new SecretBox(loadSecretsKey(dataDir, server.sandrun.config.secretsKey));
    const credential = openCredential(box, project.id, project.credential);
    return { secrets: await server.sandrun.projectSecrets.valuesFor(project.id), token: credential?.type === 'https_token' ? credential.token : undefined };
  } finally {
    await server.close();
  }
}

const databaseText = (dataDir: string) =>
  ['sandrun.db', 'sandrun.db-wal']
    .map((name) => join(dataDir, name))
    .filter((file) => existsSync(file))
    .map((file) => readFileSync(file).toString('latin1'))
    .join('');

beforeAll(() => {
  repo = new TestRepo({ 'models/hello.py': 'print("hello")\n' });
});

afterAll(() => {
  repo?.remove();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('sandrun secrets rotate-key', () => {
  it('with the key file: a new key replaces it, every value opens with it, and no old ciphertext is left in the database file', async () => {
    const value = `rotate-file-${randomBytes(6).toString('hex')}`;
    const { dataDir, sealed } = await seeded({}, value);
    const keyBefore = readFileSync(join(dataDir, 'secrets.key'), 'utf8');
    const rotated = await rotate(dataDir);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(JSON.parse(rotated.stdout)).toEqual({ credentials: 1, secrets: 1, webhook_secrets: 0, key_file: join(dataDir, 'secrets.key') });
    expect(readFileSync(join(dataDir, 'secrets.key'), 'utf8')).not.toBe(keyBefore);
    expect(existsSync(join(dataDir, 'secrets.key.next'))).toBe(false);
    const text = databaseText(dataDir);
    for (const old of sealed) expect(text.includes(old.split('.')[3]!), 'an old ciphertext is still in sandrun.db or its WAL').toBe(false);
    expect(await opened(dataDir, {})).toEqual({ secrets: { DB_PASSWORD: value }, token: TOKEN_VALUE });
  });

  it('with SANDRUN_SECRETS_KEY: the new key comes from SANDRUN_SECRETS_NEW_KEY; afterwards the new key opens everything and the old key nothing', async () => {
    const oldKey = randomBytes(32).toString('hex');
    const newKey = randomBytes(32).toString('base64');
    const value = `rotate-env-${randomBytes(6).toString('hex')}`;
    const { dataDir } = await seeded({ SANDRUN_SECRETS_KEY: oldKey }, value);
    const missing = await rotate(dataDir, { SANDRUN_SECRETS_KEY: oldKey });
    expect(missing.code, missing.stderr).toBe(2);
    expect(missing.stderr).toContain('give the new key in SANDRUN_SECRETS_NEW_KEY');
    const rotated = await rotate(dataDir, { SANDRUN_SECRETS_KEY: oldKey, SANDRUN_SECRETS_NEW_KEY: newKey });
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(JSON.parse(rotated.stdout)).toEqual({ credentials: 1, secrets: 1, webhook_secrets: 0, key_file: null });
    expect(rotated.stdout + rotated.stderr).not.toContain(newKey);
    expect(await opened(dataDir, { SANDRUN_SECRETS_KEY: newKey })).toEqual({ secrets: { DB_PASSWORD: value }, token: TOKEN_VALUE });
    await expect(opened(dataDir, { SANDRUN_SECRETS_KEY: oldKey })).rejects.toThrow(/does not decrypt with the current secrets key/);
  });

  it('with the wrong current key nothing changes: the right key still opens every value, and no half-written key file is left', async () => {
    const rightKey = randomBytes(32).toString('hex');
    const value = `rotate-wrong-${randomBytes(6).toString('hex')}`;
    const { dataDir } = await seeded({ SANDRUN_SECRETS_KEY: rightKey }, value);
    const refused = await rotate(dataDir, { SANDRUN_SECRETS_KEY: randomBytes(32).toString('hex'), SANDRUN_SECRETS_NEW_KEY: randomBytes(32).toString('hex') });
    expect(refused.code, refused.stdout).not.toBe(0);
    expect(refused.stderr).toContain('does not decrypt with the current secrets key');
    expect(await opened(dataDir, { SANDRUN_SECRETS_KEY: rightKey })).toEqual({ secrets: { DB_PASSWORD: value }, token: TOKEN_VALUE });

    // The same with the key file: the file the server reads is not the key the values were sealed with.
    const fromFile = await seeded({}, value);
    const keyFile = join(fromFile.dataDir, 'secrets.key');
    rmSync(keyFile);
    loadSecretsKey(fromFile.dataDir, undefined); // a different random key file
    const wrongFile = await rotate(fromFile.dataDir);
    expect(wrongFile.code).not.toBe(0);
    expect(existsSync(`${keyFile}.next`), 'a failed rotation left secrets.key.next behind').toBe(false);
  });

  it("re-seals webhooks' signing secrets too: after the rotation the new key opens them to the same secret", async () => {
    const { dataDir } = await seeded({}, `rotate-webhook-${randomBytes(6).toString('hex')}`);
    const signingSecret = `whsec_${randomBytes(32).toString('base64url')}`;
    const server = await startTestServer({}, { dataDir });
    try {
      // As the server seals one (creating it over HTTP would need a receiver the destination policy allows).
      const box = new SecretBox(loadSecretsKey(dataDir, undefined));
      const sealed = box.seal(signingSecret, webhookSealingContext('wh_rotation'));
      await new WebhookStore(server.sandrun.database.db, server.sandrun.database.kind).insert(
        { id: 'wh_rotation', tenantId: 'rotation', url: 'https://hooks.example.com/x', events: ['run.finished'], secretSealed: sealed, createdAt: new Date().toISOString() },
        10,
      );
    } finally {
      await server.close();
    }
    const rotated = await rotate(dataDir);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(JSON.parse(rotated.stdout)).toMatchObject({ credentials: 1, secrets: 1, webhook_secrets: 1 });
    const after = await startTestServer({}, { dataDir });
    try {
      const stored = (await new WebhookStore(after.sandrun.database.db, after.sandrun.database.kind).get('rotation', 'wh_rotation'))!;
      expect(new SecretBox(loadSecretsKey(dataDir, undefined)).open(stored.secretSealed, webhookSealingContext('wh_rotation'))).toBe(signingSecret);
    } finally {
      await after.close();
    }
  });
});

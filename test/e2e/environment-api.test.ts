// A project's environment as clients see it (SPEC §9): the project view's `environment`, POST .../environment/build, the
// build log followed as events, `sandrun projects build --follow`, and nothing of it for another tenant. Real builds.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readServerSentEvents } from '../../src/cli/sse-stream.ts';
import { TestRepo } from '../helpers/git-repo.ts';
import { ALL_SCOPES, startTestServer, type TestServer } from '../helpers/server.ts';

const execFileAsync = promisify(execFile);
const BIN = fileURLToPath(new URL('../../bin/sandrun.js', import.meta.url));
/** A first apt build here takes 6-10 s; a machine 2-3x slower, with other builds queued, gets far more. */
const BUILD_DEADLINE_MS = 240_000;

const withApt = (packages: string[]) => `image: sandrun/python:3.11\nenvironment:\n  apt: [${packages.join(', ')}]\n`;
const HELLO = { 'models/hello.py': 'print("hello")\n' };
const PROJECTS: Record<string, Record<string, string>> = {
  plain: HELLO,
  tab: { ...HELLO, 'sandrun.yaml': withApt(['python3-tabulate']) },
  // Another environment than tab's, so that the CLI sees a build of its own under way.
  clitab: { ...HELLO, 'sandrun.yaml': withApt(['python3-tabulate', 'python3-wcwidth']) },
  typo: { ...HELLO, 'sandrun.yaml': withApt(['python3-tabulatee']) },
  broken: { ...HELLO, 'sandrun.yaml': 'environment:\n  apt: python3-tabulate\n' },
};

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

describe('project environments over the API and the CLI', () => {
  let server: TestServer;
  const repos: TestRepo[] = [];
  let owner: string;
  let stranger: string;
  const tenant = `envapi-${process.pid}`;
  let cliKey: string | null = null;

  // Asynchronous on purpose: the server answering the CLI lives in this process's event loop.
  const sandrun = (args: string[]): Promise<CliResult> =>
    new Promise((resolve) => {
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, SANDRUN_URL: server.url, SANDRUN_TOKEN: owner, NO_COLOR: '1' };
      execFile(process.execPath, [BIN, ...args], { env, encoding: 'utf8', timeout: BUILD_DEADLINE_MS }, (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
      });
    });
  const describeResult = (result: CliResult) => `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;

  const environmentOf = async (name: string) => {
    const project = await server.request(owner, 'GET', `/v1/projects/${name}`);
    expect(project.status, JSON.stringify(project.body)).toBe(200);
    return project.body.environment;
  };

  /** Polls the project view until its environment is no longer building. */
  const waitForBuild = async (name: string) => {
    const deadline = Date.now() + BUILD_DEADLINE_MS;
    let environment = await environmentOf(name);
    while (environment.status === 'building' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      environment = await environmentOf(name);
    }
    return environment;
  };

  /** GET .../environment/log?follow=1 read to its end: the content type, then each event with its JSON data. */
  const follow = async (name: string) => {
    const response = await fetch(`${server.url}/v1/projects/${name}/environment/log?follow=1`, {
      headers: { authorization: `Bearer ${owner}`, accept: 'text/event-stream' },
      signal: AbortSignal.timeout(BUILD_DEADLINE_MS),
    });
    const events: Array<{ event: string; data: any }> = [];
    if (response.headers.get('content-type')?.startsWith('text/event-stream') && response.body) {
      for await (const event of readServerSentEvents(response.body as AsyncIterable<Buffer>)) events.push({ event: event.event, data: JSON.parse(event.data) });
    }
    return { status: response.status, contentType: response.headers.get('content-type') ?? '', events };
  };

  beforeAll(async () => {
    server = await startTestServer();
    owner = await server.token(tenant);
    stranger = await server.token(`${tenant}-other`);
    for (const [name, files] of Object.entries(PROJECTS)) {
      const repo = new TestRepo(files);
      repos.push(repo);
      const added = await server.request(owner, 'POST', '/v1/projects', { name, repo_url: repo.dir });
      expect(added.status, JSON.stringify(added.body)).toBe(201);
    }
  });

  afterAll(async () => {
    // clitab's image is this file's alone (tab's, the common python3-tabulate one, other tests share through the layer cache).
    if (cliKey) await server.sandrun.sandbox.environments.remove(`sandrun/env:${cliKey.slice(0, 40)}`);
    await server?.close();
    for (const repo of repos) repo.remove();
  });

  it('a project that declares no environment shows none, and a build of it is refused 409 naming sandrun.yaml', async () => {
    expect(await environmentOf('plain')).toEqual({ status: 'none', log: '', built_at: null, key: null, error: null });
    const build = await server.request(owner, 'POST', '/v1/projects/plain/environment/build');
    expect(build.status, JSON.stringify(build.body)).toBe(409);
    expect(build.body.error.code).toBe('conflict');
    expect(build.body.error.message).toMatch(/declares no environment.*sandrun\.yaml/);
    const log = await follow('plain');
    expect(log.contentType).toMatch(/^application\/json/);
  });

  it('a broken sandrun.yaml shows the environment failed with the manifest error, and a build of it is refused manifest_invalid', async () => {
    const project = await server.request(owner, 'GET', '/v1/projects/broken');
    expect(project.body.manifest_error?.code, JSON.stringify(project.body)).toBe('manifest_invalid');
    expect(project.body.environment).toEqual({ status: 'failed', log: '', built_at: null, key: null, error: project.body.manifest_error.message });
    const build = await server.request(owner, 'POST', '/v1/projects/broken/environment/build');
    expect(build.status, JSON.stringify(build.body)).toBe(422);
    expect(build.body.error.code).toBe('manifest_invalid');
    expect(build.body.error.message).toContain('environment.apt');
  });

  it('a declared environment is none until built, building right after POST build, then ready with built_at and a log naming its package', async () => {
    const before = await environmentOf('tab');
    expect(before, JSON.stringify(before)).toMatchObject({ status: 'none', built_at: null, error: null });
    expect(before.key).toMatch(/^[0-9a-f]{64}$/);

    const build = await server.request(owner, 'POST', '/v1/projects/tab/environment/build');
    expect(build.status, JSON.stringify(build.body)).toBe(202);
    expect(build.body.environment).toMatchObject({ status: 'building', key: before.key, built_at: null });

    const after = await waitForBuild('tab');
    expect(after.status, `${after.error}\n${after.log}`).toBe('ready');
    expect(Date.parse(after.built_at), after.built_at).not.toBeNaN();
    expect(after.log).toContain('python3-tabulate');
    expect(after.key).toBe(before.key);

    // Built: asking again builds nothing.
    const again = await server.request(owner, 'POST', '/v1/projects/tab/environment/build');
    expect(again.status, JSON.stringify(again.body)).toBe(202);
    expect(again.body.environment).toMatchObject({ status: 'ready', built_at: after.built_at });

    // Without a build under way, the log is the stored one, as JSON.
    const log = await server.request(owner, 'GET', '/v1/projects/tab/environment/log?follow=1');
    expect(log.headers.get('content-type')).toMatch(/^application\/json/);
    expect(log.body.environment).toMatchObject({ status: 'ready', built_at: after.built_at });
    expect(log.body.environment.log).toContain('python3-tabulate');

    const audit = await server.request(await server.token(tenant, [...ALL_SCOPES, 'admin']), 'GET', '/v1/audit');
    const actions = audit.body.entries.map((entry: any) => `${entry.action} ${entry.target} ${entry.outcome}`);
    expect(actions, actions.join('\n')).toEqual(expect.arrayContaining(['POST /v1/projects/:id/environment/build project:tab ok', 'environment.build tab ok']));
  });

  it('an image removed from the engine right after a run used it is built again by POST build (202 building), not reported ready', async () => {
    const before = await environmentOf('tab');
    expect(before.status, 'the test before built tab').toBe('ready');
    const tag = `sandrun/env:${before.key.slice(0, 40)}`;
    // A run believes a seen image for a few seconds; a build request must not.
    const run = await server.request(owner, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'tab', model_name: 'hello' });
    expect(run.body.status, JSON.stringify(run.body)).toBe('success');
    await execFileAsync('docker', ['image', 'rm', '--force', tag]);

    const build = await server.request(owner, 'POST', '/v1/projects/tab/environment/build');
    expect(build.status, JSON.stringify(build.body)).toBe(202);
    expect(build.body.environment, JSON.stringify(build.body)).toMatchObject({ status: 'building', key: before.key });
    const after = await waitForBuild('tab');
    expect(after.status, `${after.error}\n${after.log}`).toBe('ready');
    expect(Date.parse(after.built_at), `built again after ${before.built_at}`).toBeGreaterThan(Date.parse(before.built_at));
    await expect(execFileAsync('docker', ['image', 'inspect', tag]), `${tag} is on the engine again`).resolves.toBeDefined();
  });

  it('following the log of a failing build streams its lines as they come and ends with the environment failed, its log tail kept', async () => {
    const build = await server.request(owner, 'POST', '/v1/projects/typo/environment/build');
    expect(build.status, JSON.stringify(build.body)).toBe(202);
    expect(build.body.environment.status).toBe('building');

    const followed = await follow('typo');
    expect(followed.contentType, JSON.stringify(followed)).toMatch(/^text\/event-stream/);
    const kinds = followed.events.map((event) => event.event);
    expect(kinds.at(-1), kinds.join(',')).toBe('end');
    expect(kinds.slice(0, -1).every((kind) => kind === 'log'), kinds.join(',')).toBe(true);
    const streamed = followed.events.filter((event) => event.event === 'log').map((event) => event.data.text).join('');
    expect(streamed).toContain('python3-tabulatee');
    expect(streamed).toMatch(/Unable to locate package python3-tabulatee/);
    const end = followed.events.at(-1)!.data;
    expect(end, JSON.stringify(end)).toMatchObject({ status: 'failed', built_at: null, key: build.body.environment.key });
    expect(end.error).toMatch(/python3-tabulatee|non-zero code/);

    const view = await environmentOf('typo');
    expect(view).toMatchObject({ status: 'failed', error: end.error });
    expect(view.log).toMatch(/Unable to locate package python3-tabulatee/);
  });

  it('sandrun projects build --follow prints the build log and exits 0 once the environment is ready; projects show says ready', async () => {
    const built = await sandrun(['projects', 'build', 'clitab', '--follow']);
    expect(built.code, describeResult(built)).toBe(0);
    expect(built.stdout, describeResult(built)).toContain('python3-wcwidth');
    expect(built.stderr, describeResult(built)).toMatch(/environment of clitab: ready \(built /);
    const environment = await environmentOf('clitab');
    cliKey = environment.key;
    expect(environment.status).toBe('ready');

    const shown = await sandrun(['projects', 'show', 'clitab']);
    expect(shown.code, describeResult(shown)).toBe(0);
    expect(shown.stdout, describeResult(shown)).toMatch(/environment: +ready \(built /);
  });

  it('sandrun projects build --follow of a misspelt package prints the log, the error on stderr, and exits 1', async () => {
    const built = await sandrun(['projects', 'build', 'typo', '--follow']);
    expect(built.code, describeResult(built)).toBe(1);
    expect(built.stdout, describeResult(built)).toMatch(/Unable to locate package python3-tabulatee/);
    const { error } = await environmentOf('typo');
    expect(built.stderr, describeResult(built)).toContain(`environment of typo: failed: ${error}`);
  });

  it('another tenant gets 404 for the project view, the build and the log; building needs projects:write', async () => {
    for (const [method, path] of [
      ['GET', '/v1/projects/tab'],
      ['POST', '/v1/projects/tab/environment/build'],
      ['GET', '/v1/projects/tab/environment/log'],
      ['GET', '/v1/projects/typo/environment/log?follow=1'],
    ] as const) {
      const response = await server.request(stranger, method, path);
      expect(response.status, `${method} ${path}: ${JSON.stringify(response.body)}`).toBe(404);
      expect(response.body.error.message).toMatch(/project '(tab|typo)' not found/);
    }
    const readOnly = await server.request(await server.token(tenant, ['projects:read']), 'POST', '/v1/projects/tab/environment/build');
    expect(readOnly.status, JSON.stringify(readOnly.body)).toBe(403);
  });
});

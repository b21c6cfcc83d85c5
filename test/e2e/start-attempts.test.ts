// A run whose container the engine keeps stopping before the command starts ends in error after a few attempts,
// instead of making containers for ever.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TestRepo } from '../helpers/git-repo.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// An image whose shell is killed by SIGTERM as soon as it starts: what a container stopped by the host (or by an
// engine going down) looks like to sandrun, every time, while the engine itself keeps answering.
const IMAGE = `sandrun-test/dies-at-start:${process.pid}`;
const DOCKERFILE = [
  'FROM sandrun/python:3.11',
  'USER root',
  `RUN mv /bin/sh /bin/sh.real && printf '#!/bin/sh.real\\nkill -TERM $$\\n' > /bin/sh && chmod 755 /bin/sh`,
].join('\n');

let server: TestServer;
let repo: TestRepo;
let token: string;

beforeAll(async () => {
  execFileSync('docker', ['build', '-q', '--force-rm', '-t', IMAGE, '-'], { input: DOCKERFILE, env: { ...process.env, DOCKER_BUILDKIT: '0' }, stdio: ['pipe', 'ignore', 'inherit'] });
  server = await startTestServer({ SANDRUN_IMAGES: `sandrun/python:3.11,${IMAGE}` });
  token = await server.token('attempts-tenant');
  repo = new TestRepo({ 'sandrun.yaml': `image: ${IMAGE}\ncommand: ["python3", "-c", "print(1)"]\n` });
  const created = await server.request(token, 'POST', '/v1/projects', { name: 'dies', repo_url: repo.dir });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
}, 120_000);

afterAll(async () => {
  await server?.close();
  repo?.remove();
  execFileSync('docker', ['rmi', '-f', IMAGE], { stdio: 'ignore' });
});

it('gives up after 5 attempts with engine_unavailable, and leaves no container behind', async () => {
  const { status, body } = await server.request(token, 'POST', '/v1/runs', { scope: 'project', mode: 'sync', project_name: 'dies' });
  expect(status, JSON.stringify(body)).toBe(200);
  expect(body.status).toBe('error');
  expect(body.exit_code).toBeNull();
  expect(body.error.code).toBe('engine_unavailable');
  expect(body.error.message).toMatch(/stopped before the command started.*gave up after 5 attempts/);
  // The run's own containers are gone before its result; one the warm pool started for a next run of the image dies
  // at start too and is dropped a moment later: none may remain once that has had time, on however slow a machine.
  const containersOfImage = () => execFileSync('docker', ['ps', '-aq', '--filter', `ancestor=${IMAGE}`], { encoding: 'utf8' }).trim();
  const deadline = Date.now() + 30_000;
  while (containersOfImage() !== '' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
  expect(containersOfImage(), 'containers of the image left 30 s after the run').toBe('');
}, 120_000);

// An environment's key (SPEC §9) as the runs of one commit resolve it: the declared files read once, the operator's
// wheel directory listed at most once per WHEEL_LISTING_TTL_MS, and a wheel added or replaced seen once that is past.
// The real engine (the base image's ID) and SQLite; the service's clock is the test's.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/audit-log.ts';
import type { BuildSettings } from '../../src/config.ts';
import { EnvironmentService, type EnvironmentTarget } from '../../src/environments/environment-service.ts';
import { WHEEL_LISTING_TTL_MS } from '../../src/environments/wheel-listing.ts';
import { createMetrics } from '../../src/metrics.ts';
import type { EnvironmentInputs } from '../../src/projects/environment-files.ts';
import { EngineEnvironmentImages } from '../../src/sandbox/environment-images.ts';
import { AuditStore } from '../../src/store/audit-store.ts';
import { openDatabase, type StoreDatabase } from '../../src/store/database.ts';
import { EnvironmentStore } from '../../src/store/environment-store.ts';
import { makeWheel, makeWheelDir, type WheelDir } from '../helpers/python-wheels.ts';

const TARGET: EnvironmentTarget = {
  tenantId: `envkey-${process.pid}`,
  projectId: 'project-1',
  projectName: 'wheel',
  commitSha: 'a'.repeat(40),
  baseImage: 'sandrun/python:3.11',
  declaration: { pip: 'requirements.txt' },
};
const INPUTS: EnvironmentInputs = { apt: [], pip: { file: 'requirements.txt', requirements: ['sandrun_hello==1.0'] }, npm: null };

describe('the environment key of a commit seen before', () => {
  let dataDir: string;
  let database: StoreDatabase | undefined;
  let wheels: WheelDir;
  let clock = Date.parse('2026-01-01T00:00:00Z');
  let reads = 0;
  let service: EnvironmentService;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sandrun-envkey-'));
    wheels = await makeWheelDir(mkdtempSync(join(tmpdir(), 'sandrun-wheels-')));
    database = await openDatabase({ kind: 'sqlite', file: join(dataDir, 'sandrun.db') });
    const { db } = database;
    // Nothing here builds: the settings only have to be what a server's are.
    const settings: BuildSettings = {
      timeoutMs: 600_000,
      memoryMb: 1024,
      maxImageBytes: 2 * 1024 ** 3,
      network: 'bridge',
      maxConcurrent: 1,
      idleMs: 7 * 24 * 3600_000,
      tenantMaxEnvironments: 8,
      npmRegistry: 'https://registry.npmjs.org/',
      pipIndexUrl: undefined,
      pipFindLinks: wheels.dir,
      caFile: undefined,
    };
    service = new EnvironmentService({
      store: new EnvironmentStore(db),
      images: new EngineEnvironmentImages(new Dockerode()),
      readInputs: () => {
        reads += 1;
        return Promise.resolve(INPUTS);
      },
      settings,
      caFile: undefined,
      metrics: createMetrics(),
      audit: new AuditLog(new AuditStore(db)),
      logger: pino({ level: 'silent' }),
      now: () => new Date(clock),
    });
  });
  afterAll(async () => {
    await service?.close();
    await database?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    if (wheels) rmSync(wheels.dir, { recursive: true, force: true });
  });

  const keyOf = async () => (await service.view(TARGET)).key;

  it('a wheel added or replaced is another environment once the listing is WHEEL_LISTING_TTL_MS old; runs before that list nothing again', async () => {
    const first = await keyOf();
    expect(first).toMatch(/^[0-9a-f]{64}$/);

    const added = makeWheel({ name: 'sandrun_added', version: '1.0', files: { 'sandrun_added/__init__.py': 'X = 1\n' } });
    writeFileSync(join(wheels.dir, added.filename), added.content);
    expect(await keyOf(), 'within the listing\'s few seconds the key is the one resolved before: the directory was not listed again').toBe(first);

    clock += WHEEL_LISTING_TTL_MS;
    const withAdded = await keyOf();
    expect(withAdded, `a wheel added is seen ${WHEEL_LISTING_TTL_MS} ms later`).not.toBe(first);

    const replaced = makeWheel({ name: 'sandrun_added', version: '1.0', files: { 'sandrun_added/__init__.py': 'X = "a longer module"\n' } });
    writeFileSync(join(wheels.dir, added.filename), replaced.content);
    clock += WHEEL_LISTING_TTL_MS;
    const withReplaced = await keyOf();
    expect(withReplaced, 'a wheel replaced under its name (another size) is seen too').not.toBe(withAdded);

    clock += WHEEL_LISTING_TTL_MS;
    expect(await keyOf(), 'a listing that did not change keeps the key').toBe(withReplaced);
    expect(reads, 'the declared files of one commit are read once').toBe(1);
  });
});

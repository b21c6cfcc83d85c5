// Servers as one service over one PostgreSQL: a run's end, a cancel, live output and per-tenant limits cross from one server's connections to another's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { pino } from 'pino';
import { PgRunSignals, MAX_PART_BYTES } from '../../src/cluster/pg-run-signals.ts';
import { waitForFinish } from '../../src/cluster/finish-wait.ts';
import { LiveLogRelay } from '../../src/cluster/live-log-relay.ts';
import type { RunSignal } from '../../src/cluster/run-signals.ts';
import { LiveLogs, type LiveLogEvent } from '../../src/runs/live-logs.ts';
import { SharedTenantLimits } from '../../src/store/shared-tenant-limits.ts';
import { migratePostgres } from '../../src/store/migrations.ts';
import { SharedRateLimiter } from '../../src/api/shared-rate-limiter.ts';
import { SharedLogStreamSlots } from '../../src/api/log-stream-slots.ts';
import { SandrunError } from '../../src/errors.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';

const logger = pino({ level: 'silent' });

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A stand-in for the runs table: the source of truth a server re-reads a run's end from. */
interface RunRow {
  id: string;
  status: string;
  stdout: string | null;
  stderr: string | null;
}

let database: TestDatabase;
let pool: pg.Pool;
/** Two servers' signals on one database: separate connections, as on separate machines. */
let serverA: PgRunSignals;
let serverB: PgRunSignals;

async function terminalRun(runId: string): Promise<RunRow | undefined> {
  const result = await pool.query<RunRow>("SELECT * FROM runs_t WHERE id = $1 AND status <> 'running'", [runId]);
  return result.rows[0];
}

beforeAll(async () => {
  database = await createTestDatabase();
  pool = new pg.Pool({ connectionString: database.url, max: 4 });
  await pool.query('CREATE TABLE runs_t (id text PRIMARY KEY, status text NOT NULL, stdout text, stderr text)');
  serverA = new PgRunSignals({ url: database.url, logger });
  // B waits a second before reconnecting a dropped listener: long enough for a signal to be missed meanwhile.
  serverB = new PgRunSignals({ url: database.url, logger, reconnectDelayMs: 1_000 });
  await serverA.start();
  await serverB.start();
});

afterAll(async () => {
  await serverA?.close();
  await serverB?.close();
  await pool?.end();
  await database?.drop();
});

describe('run signals over PostgreSQL LISTEN/NOTIFY', () => {
  it('a run that ends on server A ends the sync wait on server B', async () => {
    await pool.query("INSERT INTO runs_t (id, status) VALUES ('run-finish', 'running')");
    let reloads = 0;
    const waited = waitForFinish(serverB, 'run-finish', () => ((reloads += 1), terminalRun('run-finish')));
    await until('B has read the run once', () => reloads >= 1);
    await pool.query("UPDATE runs_t SET status = 'success' WHERE id = 'run-finish'");
    serverA.publish({ type: 'finished', runId: 'run-finish' });
    const run = await waited;
    expect(run.status, 'what the waiter on B got').toBe('success');
  });

  it('a cancel asked on server B reaches the server executing the run (A), and only for that run', async () => {
    const seen: RunSignal[] = [];
    const stop = serverA.subscribeAll((signal) => {
      if (signal.type === 'cancel') seen.push(signal);
    });
    try {
      serverB.publish({ type: 'cancel', runId: 'run-cancel' });
      await until('A was told to cancel', () => seen.length > 0);
      expect(seen).toEqual([{ type: 'cancel', runId: 'run-cancel' }]);
    } finally {
      stop();
    }
  });

  it('live output larger than a NOTIFY payload reaches a follower on another server whole and in order, then the end', async () => {
    const liveLogs = new LiveLogs(1024 * 1024);
    const executor = new LiveLogRelay({ signals: serverA, liveLogs, reload: () => Promise.resolve(undefined) });
    const follower = new LiveLogRelay({ signals: serverB, liveLogs: new LiveLogs(1024), reload: () => Promise.resolve(undefined) });
    try {
      liveLogs.open('run-logs');
      const before = `${'é'.repeat(MAX_PART_BYTES)}|before the follower came\n`; // 2 bytes a character: several parts
      liveLogs.push('run-logs', 'stdout', Buffer.from(before));
      const events: LiveLogEvent[] = [];
      const stop = follower.follow('run-logs', (event) => events.push(event));
      expect(stop, 'a run live on another server can be followed').toBeDefined();
      await until('the snapshot arrived on B', () => events.length > 0);
      const chunks = Array.from({ length: 5 }, (_, index) => `chunk ${index}:${String(index).repeat(3 * MAX_PART_BYTES)}\n`);
      for (const [index, chunk] of chunks.entries()) liveLogs.push('run-logs', index % 2 === 0 ? 'stdout' : 'stderr', Buffer.from(chunk));
      liveLogs.close('run-logs');
      await until('the end arrived on B', () => events.at(-1)?.type === 'end');
      const texts = events.flatMap((event) => (event.type === 'log' ? [`${event.stream}:${event.text}`] : []));
      expect(texts).toEqual([`stdout:${before}`, ...chunks.map((chunk, index) => `${index % 2 === 0 ? 'stdout' : 'stderr'}:${chunk}`)]);
      expect(events.filter((event) => event.type === 'end'), 'one end, last').toHaveLength(1);
    } finally {
      executor.close();
      follower.close();
    }
  });

  it('a follower of a run that ended before it asked gets the stored output, then the end', async () => {
    await pool.query("INSERT INTO runs_t (id, status, stdout, stderr) VALUES ('run-done', 'failed', 'out\n', 'err\n')");
    const follower = new LiveLogRelay({ signals: serverB, liveLogs: new LiveLogs(1024), reload: terminalRun });
    const events: LiveLogEvent[] = [];
    follower.follow('run-done', (event) => events.push(event));
    await until('the end arrived', () => events.at(-1)?.type === 'end');
    expect(events).toEqual([{ type: 'log', stream: 'stdout', text: 'out\n' }, { type: 'log', stream: 'stderr', text: 'err\n' }, { type: 'end' }]);
    follower.close();
  });

  it('a waiter whose listening connection was cut gets the end it missed, by re-reading the run once reconnected', async () => {
    await pool.query("INSERT INTO runs_t (id, status) VALUES ('run-drop', 'running')");
    let reloads = 0;
    const waited = waitForFinish(serverB, 'run-drop', () => ((reloads += 1), terminalRun('run-drop')));
    await until('B has read the run once', () => reloads >= 1);
    const pid = serverB.listenerProcessId;
    expect(pid, "B's listening connection").toBeDefined();
    await pool.query('SELECT pg_terminate_backend($1)', [pid]);
    await until('B saw its connection drop', () => !serverB.listening);
    // Published while B is not listening: this signal never reaches B.
    await pool.query("UPDATE runs_t SET status = 'success' WHERE id = 'run-drop'");
    serverA.publish({ type: 'finished', runId: 'run-drop' });
    await serverA.flushed();
    const readsWhileDown = reloads;
    const run = await waited;
    expect(run.status).toBe('success');
    expect(serverB.listening, 'B listens again').toBe(true);
    expect(serverB.listenerProcessId, 'on a new connection').not.toBe(pid);
    expect(reloads, 'the run was re-read after the reconnect').toBeGreaterThan(readsWhileDown);
  });
});

describe('per-tenant limits shared by servers on one database', () => {
  let limitsA: SharedTenantLimits;
  let limitsB: SharedTenantLimits;
  let poolB: pg.Pool;

  beforeAll(async () => {
    poolB = new pg.Pool({ connectionString: database.url, max: 2 });
    limitsA = new SharedTenantLimits(pool);
    limitsB = new SharedTenantLimits(poolB);
    await migratePostgres(pool);
    await migratePostgres(poolB); // a second server at start: the tables are there already
  });

  afterAll(async () => {
    await poolB?.end();
  });

  it("a tenant's request budget is one across servers: the second server refuses once the first used it", async () => {
    const onA = new SharedRateLimiter(3, limitsA);
    const onB = new SharedRateLimiter(3, limitsB);
    for (let i = 0; i < 3; i += 1) expect(await onA.take('acme'), `request ${i + 1} on A`).toBe(0);
    const retryAfter = await onB.take('acme');
    expect(retryAfter, 'seconds B tells the client to wait (3/min: one request per 20 s)').toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(20);
    expect(await onB.take('globex'), 'another tenant has its own budget').toBe(0);
  });

  it('takes a batch whole or not at all, on any server', async () => {
    const onA = new SharedRateLimiter(10, limitsA);
    const onB = new SharedRateLimiter(10, limitsB);
    expect(await onA.take('batch', 8)).toBe(0);
    expect(await onB.take('batch', 3), 'two left, three asked').toBeGreaterThan(0);
    expect(await onB.take('batch', 2), 'nothing was taken by the refused batch').toBe(0);
  });

  it('a busy server takes requests ahead of its tenant’s shared bucket, serves the next ones from them, and gives back what it did not use', async () => {
    // Windows end when the test says (settle), not on a timer.
    const onA = new SharedRateLimiter(100, limitsA, undefined, 3_600_000);
    const onB = new SharedRateLimiter(100, limitsB, undefined, 3_600_000);
    for (let i = 0; i < 10; i += 1) expect(await onA.take('ahead'), `request ${i + 1} on A`).toBe(0);
    await onA.settle();
    // 10 requests in the window before: this one takes 9 more ahead (80 left in the shared bucket).
    expect(await onA.take('ahead')).toBe(0);
    expect(await onB.take('ahead', 81), 'B cannot have what A holds').toBeGreaterThan(0);
    for (let i = 0; i < 9; i += 1) expect(onA.take('ahead'), `held request ${i + 1}, answered at once`).toBe(0);
    await onA.settle(); // nothing held is left to give back
    expect(await onA.take('ahead')).toBe(0); // takes 9 ahead again (70 left)
    await onA.settle(); // gives them back (79)
    expect(await onB.take('ahead', 79), 'what A took ahead and did not use came back; what it used was taken once').toBe(0);
    await onA.close();
    await onB.close();
  });

  it('never grants more than the shared bucket across servers, however busy both are', async () => {
    const onA = new SharedRateLimiter(40, limitsA, undefined, 50);
    const onB = new SharedRateLimiter(40, limitsB, undefined, 50);
    const started = Date.now();
    let granted = 0;
    // Two servers, 8 clients each, for a second: windows end and requests are taken ahead meanwhile.
    await Promise.all(
      [onA, onB].flatMap((limiter) =>
        Array.from({ length: 8 }, async () => {
          while (Date.now() - started < 1_000) {
            if ((await limiter.take('busy')) === 0) granted += 1;
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
        }),
      ),
    );
    const refilled = ((Date.now() - started) * 40) / 60_000;
    expect(granted, `granted in ${Date.now() - started} ms (40 a minute, ${refilled.toFixed(2)} refilled)`).toBeLessThanOrEqual(40 + Math.ceil(refilled));
    expect(granted, 'the whole bucket was usable').toBeGreaterThanOrEqual(40 - 2 * 20);
    await onA.close();
    await onB.close();
  });

  it("a tenant's live-log stream slots are one cap across servers, and a slot given back on one server frees it for another", async () => {
    const onA = new SharedLogStreamSlots(2, limitsA, logger);
    const onB = new SharedLogStreamSlots(2, limitsB, logger);
    const first = await onA.acquire('acme');
    await onB.acquire('acme');
    const refused = await onA.acquire('acme').then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused, 'the third stream across both servers').toBeInstanceOf(SandrunError);
    expect((refused as SandrunError).code).toBe('rate_limited');
    expect(await limitsB.openStreams('acme')).toBe(2);
    first();
    await until('the slot given back on A is free', async () => (await limitsB.openStreams('acme')) === 1);
    await expect(onB.acquire('acme')).resolves.toBeTypeOf('function');
  });
});

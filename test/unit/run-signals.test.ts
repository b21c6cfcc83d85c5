// Run signals inside one process (the single-server service): delivered at once by run, a wait that re-reads its run, a relay that follows LiveLogs, messages split for NOTIFY.
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { LocalRunSignals, type RunSignal, type ResyncSignal } from '../../src/cluster/run-signals.ts';
import { waitForFinish } from '../../src/cluster/finish-wait.ts';
import { LiveLogRelay } from '../../src/cluster/live-log-relay.ts';
import { MAX_PART_BYTES, splitMessage } from '../../src/cluster/pg-run-signals.ts';
import { LiveLogs, type LiveLogEvent } from '../../src/runs/live-logs.ts';

const logger = pino({ level: 'silent' });

describe('LocalRunSignals', () => {
  it("delivers a run's signals at once to that run's listeners and to every-run listeners, and to no one else", () => {
    const signals = new LocalRunSignals(logger);
    const seen: string[] = [];
    signals.subscribe('run-1', (signal) => seen.push(`run-1 got ${signal.type}`));
    signals.subscribe('run-2', (signal) => seen.push(`run-2 got ${signal.type}`));
    signals.subscribeAll((signal) => seen.push(`all got ${signal.type}`));
    signals.publish({ type: 'cancel', runId: 'run-1' });
    expect(seen, 'delivered before publish returned').toEqual(['run-1 got cancel', 'all got cancel']);
  });

  it('stops delivering after unsubscribe and forgets runs nobody listens to', () => {
    const signals = new LocalRunSignals(logger);
    const seen: RunSignal[] = [];
    const stop = signals.subscribe('run-1', (signal) => seen.push(signal as RunSignal));
    stop();
    signals.publish({ type: 'finished', runId: 'run-1' });
    expect(seen).toEqual([]);
    expect(signals.subscribedRuns).toBe(0);
  });

  it('a listener that throws does not keep the signal from the others', () => {
    const signals = new LocalRunSignals(logger);
    const seen: Array<RunSignal | ResyncSignal> = [];
    signals.subscribe('run-1', () => {
      throw new Error('listener bug');
    });
    signals.subscribe('run-1', (signal) => seen.push(signal));
    expect(() => signals.publish({ type: 'finished', runId: 'run-1' })).not.toThrow();
    expect(seen).toEqual([{ type: 'finished', runId: 'run-1' }]);
  });
});

describe('waitForFinish', () => {
  it('resolves when the run is read as terminal after its finished signal, and leaves no listener behind', async () => {
    const signals = new LocalRunSignals(logger);
    let status = 'running';
    const waited = waitForFinish(signals, 'run-1', () => Promise.resolve(status === 'running' ? undefined : status));
    await Promise.resolve();
    status = 'success';
    signals.publish({ type: 'finished', runId: 'run-1' });
    await expect(waited).resolves.toBe('success');
    expect(signals.subscribedRuns).toBe(0);
  });

  it('resolves at once for a run that ended before the wait began (no signal will come)', async () => {
    const signals = new LocalRunSignals(logger);
    await expect(waitForFinish(signals, 'run-1', () => Promise.resolve('failed'))).resolves.toBe('failed');
  });

  it('rejects with the error of a failed re-read', async () => {
    const signals = new LocalRunSignals(logger);
    await expect(waitForFinish(signals, 'run-1', () => Promise.reject(new Error('database down')))).rejects.toThrow('database down');
  });
});

describe('LiveLogRelay in one process', () => {
  it('follows LiveLogs directly (nothing goes through signals) and answers undefined for a run not live here', () => {
    const signals = new LocalRunSignals(logger);
    const published: RunSignal[] = [];
    signals.subscribeAll((signal) => published.push(signal as RunSignal));
    const liveLogs = new LiveLogs(1024);
    const relay = new LiveLogRelay({ signals, liveLogs, reload: () => Promise.resolve(undefined) });
    liveLogs.open('run-1');
    liveLogs.push('run-1', 'stdout', Buffer.from('so far\n'));
    const events: LiveLogEvent[] = [];
    relay.follow('run-1', (event) => events.push(event));
    liveLogs.push('run-1', 'stderr', Buffer.from('then\n'));
    liveLogs.close('run-1');
    expect(events).toEqual([{ type: 'log', stream: 'stdout', text: 'so far\n' }, { type: 'log', stream: 'stderr', text: 'then\n' }, { type: 'end' }]);
    expect(relay.follow('run-2', () => {}), 'not live, and no other server').toBeUndefined();
    expect(published, 'signals published').toEqual([]);
  });

  it('gives the snapshot so far without following', async () => {
    const liveLogs = new LiveLogs(1024);
    const relay = new LiveLogRelay({ signals: new LocalRunSignals(logger), liveLogs, reload: () => Promise.resolve(undefined) });
    liveLogs.open('run-1');
    liveLogs.push('run-1', 'stdout', Buffer.from('so far\n'));
    await expect(relay.snapshot('run-1')).resolves.toEqual([{ type: 'log', stream: 'stdout', text: 'so far\n' }]);
    await expect(relay.snapshot('run-2')).resolves.toBeUndefined();
  });
});

describe('splitMessage', () => {
  it('splits a message into NOTIFY payloads under 8000 bytes that join back into it', () => {
    const signal: RunSignal = { type: 'relay', runId: 'r', followerId: 'f', stream: 'stdout', text: `${'✓"\\\u0000'.repeat(3 * MAX_PART_BYTES)}` };
    const parts = splitMessage('sender', 7, signal);
    expect(parts.length).toBeGreaterThan(1);
    for (const part of parts) expect(Buffer.byteLength(part), 'bytes of one payload').toBeLessThan(8000);
    const joined = Buffer.concat(parts.map((part) => Buffer.from((JSON.parse(part) as { d: string }).d, 'base64'))).toString('utf8');
    expect(JSON.parse(joined)).toEqual(signal);
  });
});

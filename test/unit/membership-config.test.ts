// The membership settings (SPEC §13): defaults a shared service can live with, and a dead period of at least three heartbeats.
import { expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';

it('defaults to a heartbeat every 5 s and death after 30 s of silence', () => {
  expect(loadConfig({}).membership).toEqual({ heartbeatMs: 5_000, deadMs: 30_000 });
});

it('refuses a dead period shorter than three heartbeats, naming both settings', () => {
  expect(() => loadConfig({ SANDRUN_HEARTBEAT_SECONDS: '2', SANDRUN_SERVER_DEAD_SECONDS: '5' })).toThrow(
    /SANDRUN_SERVER_DEAD_SECONDS 5 must be at least three times SANDRUN_HEARTBEAT_SECONDS \(2\)/,
  );
  expect(loadConfig({ SANDRUN_HEARTBEAT_SECONDS: '1', SANDRUN_SERVER_DEAD_SECONDS: '3' }).membership).toEqual({ heartbeatMs: 1_000, deadMs: 3_000 });
});

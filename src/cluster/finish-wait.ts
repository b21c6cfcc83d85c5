// Waiting for a run that another server carries out: its `finished` signal, or a re-read when signals may have been missed.
import type { RunSignals } from './run-signals.ts';

/**
 * How often a wait re-reads its run although no signal came: the backstop for a signal lost on its way (the sending
 * server's connection failed), not the way runs are normally seen to end.
 */
export const FINISH_BACKSTOP_MS = 30_000;

/**
 * Resolves with what `reload` returns once it returns something: it is read right after subscribing (the run may
 * have ended before), on each `finished` signal of the run, after the listener reconnected (`resync`), and every
 * backstopMs. `reload` gives the run once it is terminal, undefined while it is not; its rejection rejects the wait.
 */
export function waitForFinish<T>(signals: RunSignals, runId: string, reload: () => Promise<T | undefined>, backstopMs = FINISH_BACKSTOP_MS): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const check = () => {
      if (done) return;
      reload().then(
        (run) => {
          if (run === undefined || done) return;
          stop();
          resolve(run);
        },
        (error: Error) => {
          if (done) return;
          stop();
          reject(error);
        },
      );
    };
    const unsubscribe = signals.subscribe(runId, (signal) => {
      if (signal.type === 'finished' || signal.type === 'resync') check();
    });
    const backstop = setInterval(check, backstopMs).unref();
    const stop = () => {
      done = true;
      unsubscribe();
      clearInterval(backstop);
    };
    check();
  });
}

// The one way the e2e tests wait for something other than a run's status (that is poll-run.ts): a probe polled until it has an answer.

/** Polls `probe` until it answers (anything but undefined); fails naming `what` once `timeoutMs` (generous: slow machines) has passed. */
export async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 120_000, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

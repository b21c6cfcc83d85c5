// One long-lived subscription to the engine's events for sandrun's containers: OOM kills, and the exits of the
// `tar` execs that read /outputs. A run's own command reports its exit through the launcher's trailer.
import type Dockerode from 'dockerode';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { MANAGED_LABEL } from '../labels.ts';

interface EngineEvent {
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  timeNano?: number;
}

const FORGET_AFTER_MS = 60_000;

/** Follows the engine's events that match `options`, one JSON line at a time; `onClose` once the stream has ended, for any reason. */
export async function followEngineEvents(docker: Dockerode, options: Dockerode.GetEventsOptions, onLine: (line: string) => void, onClose: () => void): Promise<Readable> {
  const stream = (await docker.getEvents(options)) as Readable;
  const lines = createInterface({ input: stream });
  lines.on('line', onLine);
  // readline re-emits its input's errors: an engine going away must end this stream, never the process.
  lines.on('error', () => stream.destroy());
  stream.on('error', () => stream.destroy());
  stream.on('close', () => {
    lines.close();
    onClose();
  });
  return stream;
}

/** How long the engine's oom event may come after the exit it caused. */
const OOM_EVENT_GRACE_MS = 300;

export class EngineEvents {
  private stream: Readable | undefined;
  private closed = false;
  private lastEventNano = 0;
  private readonly execExits = new Map<string, { exitCode: number; at: number }>();
  private readonly execWaiters = new Map<string, (exitCode: number) => void>();
  private readonly ooms = new Map<string, number>();
  private readonly oomWaiters = new Map<string, () => void>();
  private reconnectTimer: NodeJS.Timeout | undefined;

  constructor(private readonly docker: Dockerode) {}

  /** Resolves once the subscription is live, so no event after this call is missed. */
  async start(): Promise<void> {
    const filters: Record<string, string[]> = { type: ['container'], label: [`${MANAGED_LABEL}=true`], event: ['oom', 'exec_die'] };
    const options: Dockerode.GetEventsOptions = { filters };
    if (this.lastEventNano > 0) options.since = Math.floor(this.lastEventNano / 1e9);
    this.stream = await followEngineEvents(
      this.docker,
      options,
      (line) => this.handle(line),
      () => {
        if (!this.closed) this.scheduleReconnect();
      },
    );
  }

  private scheduleReconnect(): void {
    this.reconnectTimer = setTimeout(() => {
      this.start().catch(() => this.scheduleReconnect());
    }, 1000);
    this.reconnectTimer.unref();
  }

  private handle(line: string): void {
    let event: EngineEvent;
    try {
      event = JSON.parse(line) as EngineEvent;
    } catch {
      return;
    }
    this.lastEventNano = Math.max(this.lastEventNano, event.timeNano ?? 0);
    const now = Date.now();
    if (event.Action === 'exec_die') {
      const execId = event.Actor?.Attributes?.execID;
      const exitCode = Number(event.Actor?.Attributes?.exitCode);
      if (!execId || !Number.isInteger(exitCode)) return;
      const waiter = this.execWaiters.get(execId);
      if (waiter) {
        this.execWaiters.delete(execId);
        waiter(exitCode);
      } else {
        this.execExits.set(execId, { exitCode, at: now });
      }
    } else if (event.Action === 'oom' && event.Actor?.ID) {
      this.ooms.set(event.Actor.ID, now);
      this.oomWaiters.get(event.Actor.ID)?.();
    }
    this.forgetOld(now);
  }

  private forgetOld(now: number): void {
    for (const [id, { at }] of this.execExits) if (now - at > FORGET_AFTER_MS) this.execExits.delete(id);
    for (const [id, at] of this.ooms) if (now - at > FORGET_AFTER_MS) this.ooms.delete(id);
  }

  /** Resolves with the exit code of an exec; register before starting the exec. */
  execExit(execId: string): { promise: Promise<number>; cancel: () => void } {
    const known = this.execExits.get(execId);
    if (known) {
      this.execExits.delete(execId);
      return { promise: Promise.resolve(known.exitCode), cancel: () => {} };
    }
    const promise = new Promise<number>((resolve) => this.execWaiters.set(execId, resolve));
    return { promise, cancel: () => this.execWaiters.delete(execId) };
  }

  /** Whether a command that exited with this code was OOM-killed; only a SIGKILL (137) waits for an event that lags the exit. */
  async exitedByOom(containerId: string, exitCode: number): Promise<boolean> {
    if (exitCode === 0) return false;
    return this.sawOom(containerId, exitCode === 137 ? OOM_EVENT_GRACE_MS : 0);
  }

  /** True if the engine reported an OOM kill in the container, waiting up to graceMs for a late event. */
  async sawOom(containerId: string, graceMs = OOM_EVENT_GRACE_MS): Promise<boolean> {
    if (this.ooms.has(containerId)) return true;
    let timer: NodeJS.Timeout | undefined;
    const seen = await new Promise<boolean>((resolve) => {
      this.oomWaiters.set(containerId, () => resolve(true));
      timer = setTimeout(() => resolve(false), graceMs);
    });
    clearTimeout(timer);
    this.oomWaiters.delete(containerId);
    return seen;
  }

  forgetContainer(containerId: string): void {
    this.ooms.delete(containerId);
    this.oomWaiters.delete(containerId);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.stream?.destroy();
  }
}

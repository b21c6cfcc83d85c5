// Run signals between servers over PostgreSQL LISTEN/NOTIFY: one channel, messages split to fit NOTIFY's payload limit, a listener that reconnects.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import pg from 'pg';
import { z } from 'zod';
import { delay } from '../delay.ts';
import { LocalRunSignals, runSignalSchema, type RunSignal, type RunSignals } from './run-signals.ts';

/** Every server listens on this one channel and keeps what concerns its own listeners. */
export const RUN_SIGNALS_CHANNEL = 'sandrun_run_signals';

/**
 * A NOTIFY payload must be under 8000 bytes: a message is sent as parts of at most this many bytes, base64 (4/3 of
 * it) inside a small envelope.
 */
export const MAX_PART_BYTES = 5_400;

/** One NOTIFY: part `i` of `n` of message `m` from sender `s`, its bytes in base64. */
const envelopeSchema = z.object({ s: z.string(), m: z.number().int(), i: z.number().int().min(0), n: z.number().int().min(1), d: z.string() });
type Envelope = z.infer<typeof envelopeSchema>;

export interface PgRunSignalsOptions {
  /** postgres://… (SANDRUN_DATABASE_URL). */
  url: string;
  logger: Logger;
  /** The first wait before reconnecting a dropped listener; doubled after each failure up to maxReconnectDelayMs. */
  reconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
}

/** A message split into NOTIFY payloads (exported for its unit test). */
export function splitMessage(sender: string, messageId: number, signal: RunSignal): string[] {
  const bytes = Buffer.from(JSON.stringify(signal), 'utf8');
  const count = Math.max(1, Math.ceil(bytes.length / MAX_PART_BYTES));
  return Array.from({ length: count }, (_, index) =>
    JSON.stringify({ s: sender, m: messageId, i: index, n: count, d: bytes.subarray(index * MAX_PART_BYTES, (index + 1) * MAX_PART_BYTES).toString('base64') } satisfies Envelope),
  );
}

/**
 * Signals for servers sharing one PostgreSQL database. This process's own listeners are told at once (nothing local
 * goes through the database); other servers get each signal by NOTIFY, sent in order from one connection, and
 * received on another that only LISTENs. When that one drops, it is made again (backing off), and every listener is
 * told `resync`: what was sent meanwhile is lost, so waiters re-read what they wait for.
 */
export class PgRunSignals extends LocalRunSignals implements RunSignals {
  override readonly spansServers = true;
  private readonly sender = randomUUID();
  private nextMessageId = 0;
  /** Publishing is serial (one connection, one query at a time): signals leave in the order they were published. */
  private readonly publisher: pg.Pool;
  private publishing: Promise<unknown> = Promise.resolve();
  private listener: pg.Client | undefined;
  private listenerPid: number | undefined;
  /** Per sender, the message being put together: a sender's parts arrive contiguous and in order. */
  private readonly partial = new Map<string, { messageId: number; parts: Buffer[] }>();
  private closed = false;
  private connected = false;
  private readonly url: string;
  private readonly reconnectDelayMs: number;
  private readonly maxReconnectDelayMs: number;

  constructor(options: PgRunSignalsOptions) {
    super(options.logger);
    this.url = options.url;
    this.reconnectDelayMs = options.reconnectDelayMs ?? 100;
    this.maxReconnectDelayMs = options.maxReconnectDelayMs ?? 5_000;
    this.publisher = new pg.Pool({ connectionString: options.url, max: 1, keepAlive: true });
    // A pooled connection that drops while idle is replaced at the next query; said, never thrown.
    this.publisher.on('error', (error) => this.logger.warn({ err: error }, 'the run-signal publishing connection dropped; it is made again for the next signal'));
  }

  /** The database's process ID of the LISTEN connection (pg_stat_activity.pid), while it is up. */
  get listenerProcessId(): number | undefined {
    return this.connected ? this.listenerPid : undefined;
  }

  /** Whether the LISTEN connection is up now. */
  get listening(): boolean {
    return this.connected;
  }

  override publish(signal: RunSignal): void {
    super.publish(signal);
    const parts = splitMessage(this.sender, (this.nextMessageId += 1), signal);
    this.publishing = this.publishing.then(async () => {
      try {
        for (const part of parts) await this.publisher.query('SELECT pg_notify($1, $2)', [RUN_SIGNALS_CHANNEL, part]);
      } catch (error) {
        // Lost for the other servers: their waiters re-read the run (on their own reconnect, or their backstop); a
        // revoked token is trusted there until its few seconds are over.
        this.logger.error({ err: error, signal: signal.type, runId: 'runId' in signal ? signal.runId : undefined }, 'could not send a run signal to the other servers');
      }
    });
  }

  /** Resolves once every signal published so far has been handed to the database. */
  flushed(): Promise<void> {
    return this.publishing.then(() => undefined);
  }

  override async start(): Promise<void> {
    await this.connect();
  }

  override async close(): Promise<void> {
    this.closed = true;
    await this.publishing;
    const listener = this.listener;
    this.listener = undefined;
    this.connected = false;
    await listener?.end().catch(() => undefined);
    await this.publisher.end();
    await super.close();
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, keepAlive: true, application_name: 'sandrun run signals' });
    client.on('notification', (message) => {
      if (message.channel === RUN_SIGNALS_CHANNEL && message.payload !== undefined) this.receive(message.payload);
    });
    let lost = false;
    const onLost = (error?: Error) => {
      if (lost) return;
      lost = true;
      if (this.listener === client) {
        this.listener = undefined;
        this.connected = false;
      }
      if (this.closed) return;
      this.logger.warn({ err: error }, 'the run-signal listening connection dropped; reconnecting');
      void this.reconnect();
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    await client.connect();
    await client.query(`LISTEN ${RUN_SIGNALS_CHANNEL}`);
    const backend = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    if (this.closed) return void (await client.end());
    this.listener = client;
    this.listenerPid = backend.rows[0]?.pid;
    this.connected = true;
  }

  private async reconnect(): Promise<void> {
    this.partial.clear();
    let wait = this.reconnectDelayMs;
    while (!this.closed) {
      await delay(wait);
      if (this.closed) return;
      try {
        await this.connect();
        this.logger.info('the run-signal listening connection is back; waiters re-read their runs');
        this.deliver({ type: 'resync' });
        return;
      } catch (error) {
        this.logger.warn({ err: error, retryInMs: wait }, 'could not reconnect the run-signal listener');
        wait = Math.min(this.maxReconnectDelayMs, wait * 2);
      }
    }
  }

  private receive(payload: string): void {
    const parsed = envelopeSchema.safeParse(safeJson(payload));
    if (!parsed.success) return this.logger.warn({ channel: RUN_SIGNALS_CHANNEL }, 'ignored a run signal that is not one');
    const envelope = parsed.data;
    if (envelope.s === this.sender) return; // told to this process's listeners when it was published
    const bytes = Buffer.from(envelope.d, 'base64');
    let message: Buffer;
    if (envelope.n === 1) {
      message = bytes;
    } else {
      const pending = envelope.i === 0 ? { messageId: envelope.m, parts: [] } : this.partial.get(envelope.s);
      // A part of a message whose beginning this listener did not see (it connected in between): dropped whole.
      if (!pending || pending.messageId !== envelope.m || pending.parts.length !== envelope.i) return void this.partial.delete(envelope.s);
      pending.parts.push(bytes);
      if (pending.parts.length < envelope.n) return void this.partial.set(envelope.s, pending);
      this.partial.delete(envelope.s);
      message = Buffer.concat(pending.parts);
    }
    const signal = runSignalSchema.safeParse(safeJson(message.toString('utf8')));
    if (!signal.success) return this.logger.warn({ sender: envelope.s }, 'ignored a run signal of a shape this server does not know');
    this.deliver(signal.data);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

// Sends due webhook deliveries from the database queue: signed, to the checked address only, a few at once, retried with backoff, at least once across restarts.
import type { Logger } from 'pino';
import { errorMessage } from '../errors.ts';
import { fetchChecked } from '../net/checked-fetch.ts';
import type { DestinationPolicy } from '../net/destination-policy.ts';
import type { SecretBox } from '../secrets/secret-box.ts';
import type { DueDelivery, WebhookStore } from '../store/webhook-store.ts';
import { nextAttemptAt, type RetryPolicy } from './webhook-backoff.ts';
import { webhookSealingContext } from './webhook-service.ts';
import { signatureHeader } from './webhook-signature.ts';
import { parseWebhookUrl } from './webhook-url.ts';

/** Deliveries in flight at once, in all; one per webhook at a time, so that a slow receiver holds one slot only. */
const MAX_IN_FLIGHT = 4;
const ATTEMPT_TIMEOUT_MS = 10_000;
/** How long a claimed delivery is this worker's: past it (the process died mid-attempt), it is due again. */
const LEASE_MS = ATTEMPT_TIMEOUT_MS + 5_000;
/** A receiver's answer matters by its status; its body is read this far, no further. */
const ANSWER_MAX_BYTES = 4096;
/** Even with nothing due, the queue is looked at this often: another server on the database may have queued some. */
const IDLE_LOOK_MS = 60_000;
/** A delivered or failed delivery's record (its attempts) is kept this long. */
const HISTORY_MS = 30 * 24 * 60 * 60_000;
const PRUNE_EVERY_MS = 60 * 60_000;
/** The shortest sleep: due deliveries that wait for their webhook's attempt under way are looked at this often. */
const BLOCKED_LOOK_MS = 250;

export interface WebhookWorkerDeps {
  store: WebhookStore;
  box: SecretBox;
  destinations: DestinationPolicy;
  /** SANDRUN_ALLOW_PRIVATE_DESTINATIONS, as at creation: a stored http:// URL is not called once it is off. */
  allowPlainHttp: boolean;
  retry: RetryPolicy;
  userAgent: string;
  logger: Logger;
  now?: () => Date;
}

export class WebhookWorker {
  private readonly now: () => Date;
  /** Delivery id → its webhook and the controller that stops its attempt at close. */
  private readonly inFlight = new Map<string, { webhookId: string; controller: AbortController; done: Promise<void> }>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private lastPrune = 0;
  /** The look at the queue under way: one at a time; a wake during it asks for another right after. */
  private pumping: Promise<void> | undefined;
  private pumpAgain = false;

  constructor(private readonly deps: WebhookWorkerDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  start(): void {
    this.running = true;
    this.wake();
  }

  /** Looks at the queue now (a run finished, an attempt ended). */
  wake(): void {
    if (!this.running) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.pump(), 0);
    this.timer.unref();
  }

  /** Stops taking deliveries and cuts the attempts under way short; each is given back, due at once, for the next start. */
  async close(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    for (const entry of this.inFlight.values()) entry.controller.abort();
    await this.pumping;
    for (const entry of this.inFlight.values()) entry.controller.abort();
    await Promise.all([...this.inFlight.values()].map((entry) => entry.done));
  }

  private pump(): void {
    if (!this.running) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = this.look().finally(() => {
      this.pumping = undefined;
      if (this.pumpAgain) {
        this.pumpAgain = false;
        this.pump();
      }
    });
  }

  private async look(): Promise<void> {
    try {
      await this.prune();
      const busy = new Set([...this.inFlight.values()].map((entry) => entry.webhookId));
      const now = this.now();
      for (const delivery of await this.deps.store.due(now.toISOString(), MAX_IN_FLIGHT * 4)) {
        if (!this.running || this.inFlight.size >= MAX_IN_FLIGHT) break;
        if (busy.has(delivery.webhookId) || this.inFlight.has(delivery.id)) continue;
        if (!(await this.deps.store.claim(delivery.id, delivery.nextAttemptAt!, new Date(now.getTime() + LEASE_MS).toISOString()))) continue;
        busy.add(delivery.webhookId);
        const controller = new AbortController();
        const done = this.attempt(delivery, controller.signal).finally(() => {
          this.inFlight.delete(delivery.id);
          this.wake();
        });
        this.inFlight.set(delivery.id, { webhookId: delivery.webhookId, controller, done });
      }
      await this.scheduleNext();
    } catch (error) {
      // The database failed (disk full, locked): look again later rather than never.
      this.deps.logger.error({ err: error }, 'reading the webhook delivery queue failed; trying again in a minute');
      this.sleep(IDLE_LOOK_MS);
    }
  }

  /**
   * Sleeps until the next delivery is due (bounded), unless an attempt ending or a run finishing wakes it first. A
   * delivery already due is one whose webhook has an attempt under way: looked at again shortly, never in a tight loop.
   */
  private async scheduleNext(): Promise<void> {
    if (this.inFlight.size >= MAX_IN_FLIGHT) return; // an attempt's end wakes the worker
    const next = await this.deps.store.nextDue();
    this.sleep(next === null ? IDLE_LOOK_MS : Math.min(IDLE_LOOK_MS, Math.max(BLOCKED_LOOK_MS, Date.parse(next) - this.now().getTime())));
  }

  private sleep(ms: number): void {
    if (!this.running) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.pump(), ms);
    this.timer.unref();
  }

  private async prune(): Promise<void> {
    const now = this.now().getTime();
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    const removed = await this.deps.store.prune(new Date(now - HISTORY_MS).toISOString());
    if (removed > 0) this.deps.logger.info({ removed }, 'removed the records of old webhook deliveries');
  }

  /** One POST of the delivery's stored body; its outcome recorded, or (stopped by close) the delivery given back. */
  private async attempt(delivery: DueDelivery, stop: AbortSignal): Promise<void> {
    const at = this.now();
    const attempt = delivery.attempts + 1;
    let statusCode: number | null = null;
    let failure: string | null = null;
    try {
      const secret = this.deps.box.open(delivery.secretSealed, webhookSealingContext(delivery.webhookId));
      const url = parseWebhookUrl(delivery.url, this.deps.allowPlainHttp);
      const answer = await fetchChecked(this.deps.destinations, url, {
        field: 'url',
        attempt: `delivering to ${url.origin}`,
        failureCode: 'destination_refused',
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(delivery.body)),
          'user-agent': this.deps.userAgent,
          'sandrun-event': delivery.event,
          'sandrun-delivery': delivery.id,
          'sandrun-signature': signatureHeader(secret, at.getTime() / 1000, delivery.body),
        },
        body: delivery.body,
        signal: AbortSignal.any([stop, AbortSignal.timeout(ATTEMPT_TIMEOUT_MS)]),
        maxBytes: ANSWER_MAX_BYTES,
        truncate: true,
      });
      statusCode = answer.status;
      if (answer.status >= 300 && answer.status < 400) failure = 'the receiver answered with a redirect, which is not followed';
    } catch (error) {
      failure = errorMessage(error);
    }
    if (stop.aborted) {
      // Cut short by a stop: whatever the receiver saw, it will see this delivery again (at least once).
      await this.deps.store
        .release(delivery.id, this.now().toISOString())
        .catch((error: unknown) => this.deps.logger.warn({ err: error, deliveryId: delivery.id }, 'could not give a webhook delivery back; its lease runs out instead'));
      return;
    }
    const delivered = statusCode !== null && statusCode >= 200 && statusCode < 300;
    const firstAttemptAt = delivery.firstAttemptAt === null ? at : new Date(delivery.firstAttemptAt);
    const next = delivered ? null : nextAttemptAt(this.deps.retry, attempt, firstAttemptAt, this.now());
    const status = delivered ? 'delivered' : next === null ? 'failed' : 'pending';
    try {
      await this.deps.store.settle({ deliveryId: delivery.id, attempt, at: at.toISOString(), statusCode, error: failure, status, nextAttemptAt: next?.toISOString() ?? null });
    } catch (error) {
      // Not recorded: the lease runs out and the delivery is sent again (at least once).
      this.deps.logger.error({ err: error, deliveryId: delivery.id }, 'could not record a webhook delivery attempt');
      return;
    }
    const log = { deliveryId: delivery.id, webhookId: delivery.webhookId, tenantId: delivery.tenantId, runId: delivery.runId, attempt, statusCode, error: failure };
    if (status === 'failed') this.deps.logger.warn(log, 'a webhook delivery failed for good: no 2xx in its time');
    else if (status === 'pending') this.deps.logger.info({ ...log, nextAttemptAt: next }, 'a webhook delivery attempt failed; it will be tried again');
    else this.deps.logger.debug(log, 'webhook delivered');
  }
}

// The JSON shapes of webhooks and their deliveries (SPEC §12), as zod schemas (OpenAPI publishes them) with the functions that make them.
import { z } from 'zod';
import type { AttemptRecord, DeliveryRecord, WebhookRecord } from '../store/webhook-store.ts';

/** The events a webhook may ask for. */
export const WEBHOOK_EVENTS = ['run.finished'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export const webhookViewSchema = z.object({
  id: z.string(),
  url: z.string(),
  events: z.array(z.enum(WEBHOOK_EVENTS)),
  created_at: z.string(),
});
export type WebhookView = z.infer<typeof webhookViewSchema>;

/** The answer to a creation: the only time the signing secret is shown. */
export const createdWebhookViewSchema = webhookViewSchema.extend({ secret: z.string() });
export type CreatedWebhookView = z.infer<typeof createdWebhookViewSchema>;

const attemptViewSchema = z.object({
  attempt: z.number().int(),
  at: z.string(),
  /** The receiver's HTTP status; null when there was no answer (then `error` says why). */
  status_code: z.number().int().nullable(),
  error: z.string().nullable(),
});

export const deliveryViewSchema = z.object({
  id: z.string(),
  event: z.enum(WEBHOOK_EVENTS),
  run_id: z.string(),
  /** pending: more attempts to come; delivered: a 2xx came back; failed: no 2xx in 24 h of attempts. */
  status: z.enum(['pending', 'delivered', 'failed']),
  created_at: z.string(),
  /** When the next attempt is due (null once delivered or failed). */
  next_attempt_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  attempts: z.array(attemptViewSchema),
});
export type DeliveryView = z.infer<typeof deliveryViewSchema>;

export function webhookView(webhook: WebhookRecord): WebhookView {
  return { id: webhook.id, url: webhook.url, events: webhook.events as WebhookEvent[], created_at: webhook.createdAt };
}

export function deliveryView(delivery: DeliveryRecord & { attemptList: AttemptRecord[] }): DeliveryView {
  return {
    id: delivery.id,
    event: delivery.event as WebhookEvent,
    run_id: delivery.runId,
    status: delivery.status,
    created_at: delivery.createdAt,
    next_attempt_at: delivery.nextAttemptAt,
    finished_at: delivery.finishedAt,
    attempts: delivery.attemptList.map((attempt) => ({ attempt: attempt.attempt, at: attempt.at, status_code: attempt.statusCode, error: attempt.error })),
  };
}

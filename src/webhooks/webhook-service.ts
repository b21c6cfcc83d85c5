// A tenant's webhooks (SPEC §12): created with a signing secret shown once, listed, removed, their deliveries shown; a finished run queues one delivery per webhook.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { SandrunError, invalidRequest } from '../errors.ts';
import type { DestinationPolicy } from '../net/destination-policy.ts';
import { runResultView } from '../runs/run-view.ts';
import type { SecretBox } from '../secrets/secret-box.ts';
import type { RunRecord } from '../store/run-store.ts';
import type { TenantStore } from '../store/tenant-store.ts';
import type { WebhookStore } from '../store/webhook-store.ts';
import { newWebhookSecret } from './webhook-signature.ts';
import { assertWebhookDestination, parseWebhookUrl } from './webhook-url.ts';
import { WEBHOOK_EVENTS, deliveryView, webhookView, type CreatedWebhookView, type DeliveryView, type WebhookView } from './webhook-view.ts';

export const webhookCreateSchema = z.strictObject(
  {
    url: z.string({ error: 'url is required and must be a string' }),
    events: z
      .array(z.enum(WEBHOOK_EVENTS, { error: (issue) => `${JSON.stringify(issue.input)} is not an event; the events are ${WEBHOOK_EVENTS.join(', ')}` }), {
        error: `events is required: a list of event names (${WEBHOOK_EVENTS.join(', ')})`,
      })
      .min(1, { error: `events must name at least one event (${WEBHOOK_EVENTS.join(', ')})` }),
  },
  { error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}; the fields are url and events` : 'the body must be a JSON object {"url": ..., "events": [...]}') },
);

export const deliveriesQuerySchema = z.strictObject(
  {
    limit: z.coerce.number({ error: 'limit must be a number' }).int({ error: 'limit must be an integer' }).min(1, { error: 'limit must be at least 1' }).max(200, { error: 'limit must be at most 200' }).default(50),
  },
  { error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown query parameter(s) ${issue.keys.join(', ')}` : undefined) },
);

/** Bound into each sealed secret: a sealed value copied to another webhook's row does not open there. */
export const webhookSealingContext = (webhookId: string): string => `webhook-secret:${webhookId}`;

export interface WebhookServiceDeps {
  store: WebhookStore;
  tenants: TenantStore;
  box: SecretBox;
  destinations: DestinationPolicy;
  /** SANDRUN_ALLOW_PRIVATE_DESTINATIONS: plain http:// URLs are taken only then. */
  allowPlainHttp: boolean;
  /** SANDRUN_TENANT_MAX_WEBHOOKS. */
  maxPerTenant: number;
  now?: () => Date;
}

export class WebhookService {
  private readonly now: () => Date;

  constructor(private readonly deps: WebhookServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** Checks the body, the tenant's cap and where the URL leads (before anything is stored); the secret is in this answer only. */
  async create(tenantId: string, body: unknown): Promise<CreatedWebhookView> {
    const parsed = webhookCreateSchema.safeParse(body);
    if (!parsed.success) throw invalidRequest(parsed.error.issues);
    const url = parseWebhookUrl(parsed.data.url, this.deps.allowPlainHttp);
    this.assertRoom(tenantId, await this.deps.store.count(tenantId));
    await assertWebhookDestination(this.deps.destinations, url);
    const id = `wh_${randomUUID().replaceAll('-', '')}`;
    const secret = newWebhookSecret();
    const createdAt = this.now().toISOString();
    await this.deps.tenants.ensure(tenantId, createdAt);
    const record = { id, tenantId, url: url.href, events: [...new Set(parsed.data.events)], secretSealed: this.deps.box.seal(secret, webhookSealingContext(id)), createdAt };
    // Checked again with the insert, in one transaction: two creations at once must not both take the last place.
    const { full } = await this.deps.store.insert(record, this.deps.maxPerTenant);
    if (full !== undefined) this.assertRoom(tenantId, full);
    return { ...webhookView(record), secret };
  }

  async list(tenantId: string): Promise<WebhookView[]> {
    return (await this.deps.store.list(tenantId)).map(webhookView);
  }

  /** Removes the webhook and its deliveries, pending ones included; another tenant's is not_found. */
  async remove(tenantId: string, id: string): Promise<void> {
    if (!(await this.deps.store.remove(tenantId, id))) throw notFound(id);
  }

  /** The webhook's deliveries, newest first, each with its attempts. */
  async deliveries(tenantId: string, id: string, query: unknown): Promise<DeliveryView[]> {
    const parsed = deliveriesQuerySchema.safeParse(query);
    if (!parsed.success) throw invalidRequest(parsed.error.issues);
    if (!(await this.deps.store.get(tenantId, id))) throw notFound(id);
    return (await this.deps.store.deliveries(tenantId, id, parsed.data.limit)).map(deliveryView);
  }

  /**
   * Queues one delivery of run.finished per webhook of the run's tenant that asks for it, due at once; the body is the
   * run's result as GET /v1/runs/{id} shows it now, stored so that every attempt sends the same bytes. How many.
   */
  async runFinished(run: RunRecord): Promise<number> {
    const webhooks = (await this.deps.store.list(run.tenantId)).filter((webhook) => webhook.events.includes('run.finished'));
    if (webhooks.length === 0) return 0;
    const body = JSON.stringify(runResultView(run));
    const at = this.now().toISOString();
    await this.deps.store.enqueue(
      webhooks.map((webhook) => ({ id: `whd_${randomUUID().replaceAll('-', '')}`, webhookId: webhook.id, tenantId: run.tenantId, event: 'run.finished', runId: run.id, body, at })),
    );
    return webhooks.length;
  }

  /** Throws conflict when the tenant's `count` webhooks are the most it may have. */
  private assertRoom(tenantId: string, count: number): void {
    const max = this.deps.maxPerTenant;
    if (count >= max) {
      throw new SandrunError('conflict', `this tenant already has ${count} webhooks, the most it may have (SANDRUN_TENANT_MAX_WEBHOOKS=${max}); remove one to add another`, {
        limit: 'tenant_webhooks',
        max,
        count,
      });
    }
  }
}

function notFound(id: string): SandrunError {
  return new SandrunError('not_found', `webhook ${id} not found`);
}

// What `sandrun webhooks add|list|rm|deliveries` do: the tenant's webhooks over the REST API; the secret is printed once, on add.
import type { CreatedWebhookView, DeliveryView, WebhookView } from '../../webhooks/webhook-view.ts';
import { apiClient } from '../api-client.ts';
import { printJson, segment, type CliContext, type HttpFlags } from '../context.ts';
import { formatTable } from '../table.ts';

export async function addWebhook(context: CliContext, url: string, flags: HttpFlags & { event?: string[] }): Promise<void> {
  const created = await apiClient(context, flags).request<CreatedWebhookView>('POST', '/v1/webhooks', { url, events: flags.event ?? ['run.finished'] });
  if (flags.json) return printJson(context, created);
  // The secret last, on its own line, like `tokens create`: a script takes the last line.
  context.terminal.stdout.write(
    `added webhook ${created.id} for ${created.events.join(', ')} to ${created.url}\n` +
      'its signing secret follows; it is shown this once (verify Sandrun-Signature with it, see docs/api.md):\n' +
      `${created.secret}\n`,
  );
}

export async function listWebhooks(context: CliContext, flags: HttpFlags): Promise<void> {
  const page = await apiClient(context, flags).request<{ webhooks: WebhookView[] }>('GET', '/v1/webhooks');
  if (flags.json) return printJson(context, page);
  if (page.webhooks.length === 0) {
    context.terminal.stdout.write('no webhooks; add one with: sandrun webhooks add https://example.com/hooks/sandrun\n');
    return;
  }
  context.terminal.stdout.write(
    formatTable(page.webhooks, [
      { header: 'ID', value: (webhook) => webhook.id },
      { header: 'URL', value: (webhook) => webhook.url },
      { header: 'EVENTS', value: (webhook) => webhook.events.join(',') },
      { header: 'CREATED', value: (webhook) => webhook.created_at },
    ]),
  );
}

export async function removeWebhook(context: CliContext, id: string, flags: HttpFlags): Promise<void> {
  await apiClient(context, flags).request<null>('DELETE', `/v1/webhooks/${segment(id)}`);
  if (flags.json) printJson(context, { removed: id });
  else context.terminal.stdout.write(`removed webhook ${id}\n`);
}

/** What the receiver answered the last attempt: its status, or why there was no answer. */
function lastAnswer(delivery: DeliveryView): string {
  const last = delivery.attempts.at(-1);
  if (!last) return '-';
  return last.status_code === null ? (last.error ?? 'no answer') : String(last.status_code);
}

export async function listDeliveries(context: CliContext, id: string, flags: HttpFlags & { limit: string }): Promise<void> {
  const page = await apiClient(context, flags).request<{ deliveries: DeliveryView[] }>('GET', `/v1/webhooks/${segment(id)}/deliveries?limit=${encodeURIComponent(flags.limit)}`);
  if (flags.json) return printJson(context, page);
  if (page.deliveries.length === 0) {
    context.terminal.stdout.write(`webhook ${id} has no deliveries yet; one is sent when a run finishes\n`);
    return;
  }
  context.terminal.stdout.write(
    formatTable(page.deliveries, [
      { header: 'DELIVERY', value: (delivery) => delivery.id },
      { header: 'RUN', value: (delivery) => delivery.run_id },
      { header: 'STATUS', value: (delivery) => delivery.status },
      { header: 'ATTEMPTS', value: (delivery) => String(delivery.attempts.length) },
      { header: 'LAST ANSWER', value: lastAnswer },
      { header: 'NEXT ATTEMPT', value: (delivery) => delivery.next_attempt_at ?? '-' },
    ]),
  );
}

// `sandrun webhooks add|list|rm|deliveries`: the tenant's webhooks over the REST API (scope admin). Declarations; actions/ do them.
import { Command } from 'commander';
import { addHttpOptions, type CliContext, type HttpFlags } from '../context.ts';

const actions = () => import('../actions/webhooks.ts');

export function webhooksCommand(context: CliContext): Command {
  const webhooks = new Command('webhooks').description("the tenant's webhooks: a signed POST of each finished run's result (needs an admin token)");

  addHttpOptions(
    webhooks
      .command('add')
      .description('add a webhook; prints its signing secret, once')
      .argument('<url>', 'where deliveries are POSTed: https:// (http:// only where the server allows private destinations)')
      .option('--event <event>', 'an event to deliver (repeatable): run.finished', (value: string, previous: string[] | undefined) => [...(previous ?? []), value]),
  ).action(async (url: string, flags: HttpFlags & { event?: string[] }) => {
    await (await actions()).addWebhook(context, url, flags);
  });

  addHttpOptions(webhooks.command('list').description("the tenant's webhooks (never their secrets)")).action(async (flags: HttpFlags) => {
    await (await actions()).listWebhooks(context, flags);
  });

  addHttpOptions(webhooks.command('rm').description('remove a webhook and its pending deliveries').argument('<id>')).action(async (id: string, flags: HttpFlags) => {
    await (await actions()).removeWebhook(context, id, flags);
  });

  addHttpOptions(
    webhooks.command('deliveries').description("a webhook's deliveries, newest first, with each attempt's answer").argument('<id>').option('--limit <n>', 'at most this many (1-200)', '50'),
  ).action(async (id: string, flags: HttpFlags & { limit: string }) => {
    await (await actions()).listDeliveries(context, id, flags);
  });

  return webhooks;
}

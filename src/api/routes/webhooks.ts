// POST/GET/DELETE /v1/webhooks[/{id}] and GET /v1/webhooks/{id}/deliveries: a tenant's webhooks and what was sent to them (SPEC §12). Scope admin.
import { Router } from 'express';
import type { WebhookService } from '../../webhooks/webhook-service.ts';
import { principalOf, requireScope } from '../authenticate.ts';

export function webhookRoutes(webhooks: WebhookService): Router {
  const router = Router();

  /** 201 with the signing secret: the only answer that ever shows it. */
  router.post('/v1/webhooks', requireScope('admin'), async (request, response) => {
    const created = await webhooks.create(principalOf(request).tenantId, request.body);
    request.audit = { ...request.audit, target: `webhook:${created.id}` };
    response.status(201).json(created);
  });

  router.get('/v1/webhooks', requireScope('admin'), async (request, response) => {
    response.json({ webhooks: await webhooks.list(principalOf(request).tenantId) });
  });

  router.delete('/v1/webhooks/:id', requireScope('admin'), async (request, response) => {
    const id = request.params.id as string;
    request.audit = { ...request.audit, target: `webhook:${id}` };
    await webhooks.remove(principalOf(request).tenantId, id);
    response.status(204).end();
  });

  router.get('/v1/webhooks/:id/deliveries', requireScope('admin'), async (request, response) => {
    response.json({ deliveries: await webhooks.deliveries(principalOf(request).tenantId, request.params.id as string, request.query) });
  });

  return router;
}

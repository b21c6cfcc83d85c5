// REST routes of API tokens (admin scope): list, create (the secret is in this one response only), revoke.
import { Router } from 'express';
import type { TokenAdmin } from '../../auth/token-admin.ts';
import { principalOf, requireScope } from '../authenticate.ts';

export function tokenRoutes(tokens: TokenAdmin): Router {
  const router = Router();

  router.get('/v1/tokens', requireScope('admin'), async (request, response) => {
    response.json({ tokens: await tokens.list(principalOf(request)) });
  });

  router.post('/v1/tokens', requireScope('admin'), async (request, response) => {
    response.status(201).set('Cache-Control', 'no-store').json(await tokens.create(principalOf(request), request.body));
  });

  router.delete('/v1/tokens/:tokenId', requireScope('admin'), async (request, response) => {
    await tokens.revoke(principalOf(request), request.params.tokenId as string);
    response.status(204).end();
  });

  return router;
}

// GET /v1/audit (admin): the audit log of the caller's own tenant, newest first.
import { Router } from 'express';
import { z } from 'zod';
import { auditEntryView, type AuditLog } from '../../audit/audit-log.ts';
import { invalidRequest } from '../../errors.ts';
import { principalOf, requireScope } from '../authenticate.ts';

const auditQuerySchema = z.strictObject(
  {
    limit: z.coerce.number({ error: 'limit must be a number' }).int({ error: 'limit must be an integer' }).min(1, { error: 'limit must be at least 1' }).max(500, { error: 'limit must be at most 500' }).default(100),
    cursor: z.string().min(1).optional(),
  },
  { error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown query parameter(s) ${issue.keys.join(', ')}; the parameters are limit, cursor` : undefined) },
);

export function auditRoutes(audit: AuditLog): Router {
  const router = Router();
  router.get('/v1/audit', requireScope('admin'), async (request, response) => {
    const parsed = auditQuerySchema.safeParse(request.query);
    if (!parsed.success) throw invalidRequest(parsed.error.issues);
    const page = await audit.list(principalOf(request).tenantId, parsed.data);
    response.json({ entries: page.entries.map(auditEntryView), next_cursor: page.nextCursor });
  });
  return router;
}

// How many log streams each tenant has open (in this process, or across servers in PostgreSQL): past its cap, a new one is refused (429) instead of held open.
import type { Logger } from 'pino';
import { SandrunError } from '../errors.ts';
import { STREAM_LEASE_SECONDS, type SharedTenantLimits } from '../store/shared-tenant-limits.ts';
import { TenantCounter } from '../tenant-counter.ts';

/** A refused client may try again soon: streams close when runs end or clients leave. */
const RETRY_AFTER_SECONDS = 5;

/** Open streams per tenant, capped. */
export interface StreamSlots {
  /** Takes one of the tenant's slots (429 past the cap); the returned function gives it back (once, however often it is called). */
  acquire(tenantId: string): (() => void) | Promise<() => void>;
}

function tooManyStreams(tenantId: string, max: number): SandrunError {
  return new SandrunError(
    'rate_limited',
    `tenant ${tenantId} already has ${max} open live-log streams (SANDRUN_TENANT_MAX_LOG_STREAMS); close one, or wait for a followed run to end`,
    { limit: 'log_streams', max, retry_after_seconds: RETRY_AFTER_SECONDS },
  );
}

/** Calls `give` the first time the returned function is called, never again. */
function once(give: () => void): () => void {
  let released = false;
  return () => {
    if (released) return;
    released = true;
    give();
  };
}

export class LogStreamSlots implements StreamSlots {
  private readonly open = new TenantCounter();

  constructor(private readonly maxPerTenant: number) {}

  acquire(tenantId: string): () => void {
    if (this.open.of(tenantId) >= this.maxPerTenant) throw tooManyStreams(tenantId, this.maxPerTenant);
    this.open.add(tenantId);
    return once(() => this.open.remove(tenantId));
  }

  openCount(tenantId: string): number {
    return this.open.of(tenantId);
  }
}

/**
 * The tenant's slots across every server on one PostgreSQL database: one lease row per open stream, renewed by its
 * server while it is open, so a server that dies frees its tenants' slots within STREAM_LEASE_SECONDS.
 */
export class SharedLogStreamSlots implements StreamSlots {
  private renewal: NodeJS.Timeout | undefined;

  constructor(
    private readonly maxPerTenant: number,
    private readonly limits: SharedTenantLimits,
    private readonly logger: Logger,
  ) {}

  async acquire(tenantId: string): Promise<() => void> {
    const lease = await this.limits.openStream(tenantId, this.maxPerTenant);
    if (lease === undefined) throw tooManyStreams(tenantId, this.maxPerTenant);
    return once(() => {
      this.limits.closeStream(lease).catch((error: unknown) => this.logger.warn({ err: error, tenantId }, 'could not give back a live-log stream slot; its lease runs out by itself'));
    });
  }

  /** Renews this server's leases every third of their life, until stop(). */
  start(): void {
    this.renewal = setInterval(() => {
      this.limits.renewStreams().catch((error: unknown) => this.logger.warn({ err: error }, 'could not renew the leases of open live-log streams'));
    }, (STREAM_LEASE_SECONDS * 1000) / 3).unref();
  }

  stop(): void {
    clearInterval(this.renewal);
  }
}

// How many log streams each tenant has open: past its cap, a new one is refused (429) instead of held open.
import { SandrunError } from '../errors.ts';
import { TenantCounter } from '../tenant-counter.ts';

/** A refused client may try again soon: streams close when runs end or clients leave. */
const RETRY_AFTER_SECONDS = 5;

export class LogStreamSlots {
  private readonly open = new TenantCounter();

  constructor(private readonly maxPerTenant: number) {}

  /** Takes one of the tenant's slots; the returned function gives it back (once, however often it is called). */
  acquire(tenantId: string): () => void {
    if (this.open.of(tenantId) >= this.maxPerTenant) {
      throw new SandrunError(
        'rate_limited',
        `tenant ${tenantId} already has ${this.maxPerTenant} open live-log streams (SANDRUN_TENANT_MAX_LOG_STREAMS); close one, or wait for a followed run to end`,
        { limit: 'log_streams', max: this.maxPerTenant, retry_after_seconds: RETRY_AFTER_SECONDS },
      );
    }
    this.open.add(tenantId);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.open.remove(tenantId);
    };
  }

  openCount(tenantId: string): number {
    return this.open.of(tenantId);
  }
}

// How many clones and fetches run at once, in all and per tenant (SPEC §14): past either cap, a new one is refused at once with 429.
import { SandrunError } from '../errors.ts';
import { TenantCounter } from '../tenant-counter.ts';

/** Clones take seconds to minutes: a client told to come back sooner would mostly be refused again. */
const RETRY_AFTER_SECONDS = 10;

export class CloneSlots {
  private total = 0;
  private readonly perTenant = new TenantCounter();

  constructor(
    private readonly maxTotal: number,
    private readonly maxPerTenant: number,
  ) {}

  /** Runs `work` (a clone or fetch and what checks it) holding one of the tenant's slots and one of the server's. */
  async run<T>(tenantId: string, work: () => Promise<T>): Promise<T> {
    const held = this.perTenant.of(tenantId);
    if (held >= this.maxPerTenant) {
      throw new SandrunError(
        'rate_limited',
        `this tenant already has ${held} clone(s) or fetch(es) of its repositories running, its most at once (SANDRUN_TENANT_MAX_CONCURRENT_CLONES=${this.maxPerTenant}); try again when one has finished`,
        { limit: 'tenant_concurrent_clones', max: this.maxPerTenant, retry_after_seconds: RETRY_AFTER_SECONDS },
      );
    }
    if (this.total >= this.maxTotal) {
      throw new SandrunError(
        'rate_limited',
        `the server already runs ${this.total} clone(s) or fetch(es) of repositories, its most at once (SANDRUN_MAX_CONCURRENT_CLONES=${this.maxTotal}); try again shortly`,
        { limit: 'concurrent_clones', max: this.maxTotal, retry_after_seconds: RETRY_AFTER_SECONDS },
      );
    }
    this.total += 1;
    this.perTenant.add(tenantId);
    try {
      return await work();
    } finally {
      this.total -= 1;
      this.perTenant.remove(tenantId);
    }
  }
}

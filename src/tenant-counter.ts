// What each tenant holds right now (open live-log streams, running clones): the bookkeeping behind per-tenant caps.
export class TenantCounter {
  private readonly counts = new Map<string, number>();

  of(tenantId: string): number {
    return this.counts.get(tenantId) ?? 0;
  }

  add(tenantId: string): void {
    this.counts.set(tenantId, this.of(tenantId) + 1);
  }

  /** A tenant back at zero is forgotten, so the map holds only tenants holding something. */
  remove(tenantId: string): void {
    const left = this.of(tenantId) - 1;
    if (left > 0) this.counts.set(tenantId, left);
    else this.counts.delete(tenantId);
  }
}

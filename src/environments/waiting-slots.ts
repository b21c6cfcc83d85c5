// At most N builds at once and one per tenant; the rest wait in order (a run waits for its environment rather than fail),
// so one tenant's many environments never hold every slot while another tenant's build waits.
import { TenantCounter } from '../tenant-counter.ts';

export class WaitingSlots {
  private running = 0;
  private readonly runningByTenant = new TenantCounter();
  private readonly waiting: Array<{ tenantId: string; start: () => void }> = [];

  constructor(
    private readonly max: number,
    private readonly maxPerTenant = 1,
  ) {}

  async run<T>(tenantId: string, work: () => Promise<T>): Promise<T> {
    await new Promise<void>((start) => {
      this.waiting.push({ tenantId, start });
      this.pump();
    });
    try {
      return await work();
    } finally {
      this.running -= 1;
      this.runningByTenant.remove(tenantId);
      this.pump();
    }
  }

  private pump(): void {
    while (this.running < this.max) {
      const index = this.waiting.findIndex((entry) => this.runningByTenant.of(entry.tenantId) < this.maxPerTenant);
      if (index === -1) return;
      const [entry] = this.waiting.splice(index, 1);
      this.running += 1;
      this.runningByTenant.add(entry!.tenantId);
      entry!.start();
    }
  }
}

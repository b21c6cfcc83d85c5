// Single-use containers started ahead for the likely next runs (same image, checkout and limits), parked until taken.
import type { ContainerTemplate } from './hardening.ts';
import type { ParkedContainer } from './parked-container.ts';

export interface WarmPoolLimits {
  /** Parked containers in all; 0 disables the pool. */
  maxTotal: number;
  /** Parked containers per tenant, so one busy tenant cannot hold the whole pool. */
  maxPerTenant: number;
  /** Parked containers per template: how many runs of the same kind can start warm at once. */
  maxPerTemplate: number;
  /** A parked container unused this long is removed. */
  maxIdleMs: number;
}

export interface PoolStats {
  hits: number;
  misses: number;
  parked: number;
}

interface Entry {
  parked: ParkedContainer;
  image: string;
  key: string;
  tenant: string;
  labels: Record<string, string>;
  timer: NodeJS.Timeout;
}

interface Starting {
  key: string;
  tenant: string;
  image: string;
  labels: Record<string, string>;
  evicted: boolean;
}

/** What an eviction's predicate sees of a container; `parked` is absent for one still starting. */
export interface PoolMember {
  parked?: ParkedContainer;
  image: string;
  labels: Record<string, string>;
}

const TENANT_LABEL = 'sandrun.tenant';

export function templateKey(template: ContainerTemplate): string {
  const { image, imageId, workspaceDir, limits, labels, withSecrets, withNetwork } = template;
  return JSON.stringify([image, imageId ?? null, workspaceDir, limits.memoryMb, limits.cpus, limits.pids, labels ?? {}, withSecrets === true, withNetwork === true]);
}

export class WarmPool {
  private readonly entries: Entry[] = [];
  /** Containers being started; one evicted while starting is removed as soon as it is up, never parked. */
  private readonly starting: Starting[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;
  readonly stats: PoolStats = { hits: 0, misses: 0, parked: 0 };

  constructor(
    private readonly limits: WarmPoolLimits,
    private readonly start: (template: ContainerTemplate) => Promise<ParkedContainer>,
    private readonly discard: (parked: ParkedContainer) => Promise<void>,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** A parked container for this template, removed from the pool: it serves exactly one run. */
  take(template: ContainerTemplate): ParkedContainer | undefined {
    if (this.limits.maxTotal === 0) return undefined;
    const key = templateKey(template);
    const index = this.entries.findIndex((entry) => entry.key === key);
    if (index === -1) {
      this.stats.misses += 1;
      return undefined;
    }
    const [entry] = this.entries.splice(index, 1);
    clearTimeout(entry!.timer);
    this.stats.hits += 1;
    this.stats.parked = this.entries.length;
    return entry!.parked;
  }

  /** Starts one more container for this template in the background, if the limits allow. */
  replenish(template: ContainerTemplate): void {
    if (this.closed || this.limits.maxTotal === 0) return;
    const key = templateKey(template);
    const tenant = template.labels?.[TENANT_LABEL] ?? '';
    const all = [...this.entries, ...this.starting];
    const ofTemplate = all.filter((entry) => entry.key === key).length;
    const ofTenant = all.filter((entry) => entry.tenant === tenant).length;
    if (ofTemplate >= this.limits.maxPerTemplate || ofTenant >= this.limits.maxPerTenant) return;
    if (all.length >= this.limits.maxTotal && !this.evictOldestOtherThan(key)) return;
    const slot: Starting = { key, tenant, image: template.image, labels: template.labels ?? {}, evicted: false };
    this.starting.push(slot);
    const started: Promise<void> = this.start(template)
      .then((parked) => {
        if (this.closed || slot.evicted) return this.discard(parked);
        const timer = setTimeout(() => void this.evict((entry) => entry.parked === parked), this.limits.maxIdleMs);
        timer.unref();
        this.entries.push({ parked, image: template.image, key, tenant, labels: template.labels ?? {}, timer });
        this.stats.parked = this.entries.length;
        // A container whose stdio connection ended while parked (an engine restart) can serve no run.
        void parked.session.ended.then(() => this.evict((entry) => entry.parked === parked));
      })
      .catch(this.onError)
      .finally(() => {
        this.starting.splice(this.starting.indexOf(slot), 1);
        this.inFlight.delete(started);
      });
    this.inFlight.add(started);
  }

  /** replenish(), once: when the returned function is called, or after maxDelayMs, whichever comes first. */
  replenishLater(template: ContainerTemplate, maxDelayMs: number): () => void {
    let done = false;
    const now = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      this.replenish(template);
    };
    const timer = setTimeout(now, maxDelayMs);
    timer.unref();
    return now;
  }

  private evictOldestOtherThan(key: string): boolean {
    const oldest = this.entries.find((entry) => entry.key !== key);
    if (!oldest) return false;
    void this.evict((entry) => entry === oldest);
    return true;
  }

  /** True for a container the pool holds (the reaper leaves these alone). */
  holds(containerId: string): boolean {
    return this.entries.some((entry) => entry.parked.container.id === containerId);
  }

  /** Removes the parked containers that match (all of them without a predicate), and those still starting once they are up. */
  async evict(matches: (member: PoolMember) => boolean = () => true): Promise<void> {
    for (const slot of this.starting) if (matches({ image: slot.image, labels: slot.labels })) slot.evicted = true;
    const gone = this.entries.filter(matches);
    for (const entry of gone) {
      this.entries.splice(this.entries.indexOf(entry), 1);
      clearTimeout(entry.timer);
    }
    this.stats.parked = this.entries.length;
    await Promise.all(gone.map((entry) => this.discard(entry.parked)));
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.inFlight]);
    await this.evict();
  }
}

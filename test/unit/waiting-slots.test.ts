// Build slots: at most N at once, one per tenant, the rest in order — a tenant with many builds never holds every slot.
import { describe, expect, it } from 'vitest';
import { WaitingSlots } from '../../src/environments/waiting-slots.ts';

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

describe('WaitingSlots', () => {
  it("runs one build per tenant at a time, and another tenant's build takes the free slot before the first tenant's next", async () => {
    const slots = new WaitingSlots(2);
    const started: string[] = [];
    const gates = new Map<string, ReturnType<typeof gate>>();
    const build = (tenant: string, name: string) =>
      slots.run(tenant, async () => {
        started.push(name);
        const g = gate();
        gates.set(name, g);
        await g.opened;
      });
    const all = [build('a', 'a1'), build('a', 'a2'), build('a', 'a3'), build('b', 'b1')];
    await new Promise((resolve) => setImmediate(resolve));
    expect(started, 'a2 waits for a1 even though a slot is free; b1 takes it').toEqual(['a1', 'b1']);
    gates.get('b1')!.open();
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual(['a1', 'b1']);
    gates.get('a1')!.open();
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual(['a1', 'b1', 'a2']);
    gates.get('a2')!.open();
    await new Promise((resolve) => setImmediate(resolve));
    gates.get('a3')!.open();
    await Promise.all(all);
    expect(started).toEqual(['a1', 'b1', 'a2', 'a3']);
  });

  it('never runs more than the global limit', async () => {
    const slots = new WaitingSlots(2);
    let running = 0;
    let most = 0;
    await Promise.all(
      ['a', 'b', 'c', 'd', 'e'].map((tenant) =>
        slots.run(tenant, async () => {
          running += 1;
          most = Math.max(most, running);
          await new Promise((resolve) => setTimeout(resolve, 5));
          running -= 1;
        }),
      ),
    );
    expect(most).toBe(2);
  });
});

// A run's note of where it runs (runs.sandbox_ref), written by its backend with its start and read back to adopt it.
import type { z } from 'zod';

/** The note as `schema` describes it, or undefined when there is none or another backend wrote it (or the row is damaged). */
export function parseSandboxRef<T>(schema: z.ZodType<T>, ref: string | null): T | undefined {
  if (ref === null) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(ref));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

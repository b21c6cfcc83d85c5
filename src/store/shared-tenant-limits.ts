// Per-tenant limits shared by every server on one PostgreSQL database: request token buckets and open live-log streams.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';


/** How long a stream's lease lives without its server renewing it: a dead server's streams are free again after it. */
export const STREAM_LEASE_SECONDS = 60;

/**
 * A token bucket per key, refilled at refillPerMs up to capacity, taken from atomically (one upsert, the row locked):
 * all `count` or none. Time is the database's clock, the one clock every server shares.
 */
const TAKE_SQL = `
INSERT INTO rate_buckets AS b (bucket, tokens, updated_at_ms, granted)
VALUES ($1, $2::float8 - $3::float8, extract(epoch FROM clock_timestamp()) * 1000, true)
ON CONFLICT (bucket) DO UPDATE SET
  tokens = CASE WHEN least($2::float8, b.tokens + (excluded.updated_at_ms - b.updated_at_ms) * $4::float8) >= $3::float8
    THEN least($2::float8, b.tokens + (excluded.updated_at_ms - b.updated_at_ms) * $4::float8) - $3::float8
    ELSE least($2::float8, b.tokens + (excluded.updated_at_ms - b.updated_at_ms) * $4::float8) END,
  granted = least($2::float8, b.tokens + (excluded.updated_at_ms - b.updated_at_ms) * $4::float8) >= $3::float8,
  updated_at_ms = excluded.updated_at_ms
RETURNING tokens, granted`;

export class SharedTenantLimits {
  /** This process's leases are renewed under this name; a new one per start. */
  readonly serverId = randomUUID();

  constructor(private readonly pool: pg.Pool) {}

  /** Takes `count` from the bucket (capacity <= count is the caller's rule): whether it was granted, and what is left. */
  async take(bucket: string, count: number, capacity: number, refillPerMs: number): Promise<{ granted: boolean; tokens: number }> {
    const result = await this.pool.query<{ tokens: number; granted: boolean }>(TAKE_SQL, [bucket, capacity, count, refillPerMs]);
    const row = result.rows[0]!;
    return { granted: row.granted, tokens: row.tokens };
  }

  /** Puts `count` back into the bucket (requests taken and not used), never above `capacity`. */
  async giveBack(bucket: string, count: number, capacity: number): Promise<void> {
    await this.pool.query('UPDATE rate_buckets SET tokens = least($2::float8, tokens + $3::float8) WHERE bucket = $1', [bucket, capacity, count]);
  }

  /** A lease on one of the tenant's `max` streams, or undefined when all are taken (expired leases do not count). */
  async openStream(tenantId: string, max: number): Promise<string | undefined> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      // One tenant's count and insert are serialised across servers; other tenants are not held up.
      await client.query("SELECT pg_advisory_xact_lock(hashtext('log_stream_leases'), hashtext($1))", [tenantId]);
      await client.query('DELETE FROM log_stream_leases WHERE tenant_id = $1 AND expires_at < now()', [tenantId]);
      const open = await client.query<{ open: number }>('SELECT count(*)::int AS open FROM log_stream_leases WHERE tenant_id = $1', [tenantId]);
      if (open.rows[0]!.open >= max) {
        await client.query('ROLLBACK');
        return undefined;
      }
      const id = randomUUID();
      await client.query(`INSERT INTO log_stream_leases (id, tenant_id, server_id, expires_at) VALUES ($1, $2, $3, now() + interval '${STREAM_LEASE_SECONDS} seconds')`, [
        id,
        tenantId,
        this.serverId,
      ]);
      await client.query('COMMIT');
      return id;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined); // the error that matters is the one rethrown
      throw error;
    } finally {
      client.release();
    }
  }

  async closeStream(id: string): Promise<void> {
    await this.pool.query('DELETE FROM log_stream_leases WHERE id = $1', [id]);
  }

  /** Renews this server's leases (every third of their life, by the caller). */
  async renewStreams(): Promise<void> {
    await this.pool.query(`UPDATE log_stream_leases SET expires_at = now() + interval '${STREAM_LEASE_SECONDS} seconds' WHERE server_id = $1`, [this.serverId]);
  }

  /** How many streams the tenant holds across servers (live leases only). */
  async openStreams(tenantId: string): Promise<number> {
    const result = await this.pool.query<{ open: number }>('SELECT count(*)::int AS open FROM log_stream_leases WHERE tenant_id = $1 AND expires_at >= now()', [tenantId]);
    return result.rows[0]!.open;
  }
}

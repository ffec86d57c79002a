// PostgreSQL faults, aimed only at this run's own connections: every
// connection of the run's processes carries one application_name, and the
// holders of idle connections and of the open transaction carry others.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import pg from "pg";
import type { FaultRecord } from "../recovery.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function withApplicationName(url: string, name: string): string {
  const u = new URL(url);
  u.searchParams.set("application_name", name);
  return u.toString();
}

async function quietClient(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on("error", () => {}); // terminated by the restart; reopened by its owner
  await client.connect();
  return client;
}

/** pg_terminate_backend of every connection named `appName`, once a second until `until`. */
export async function terminateEverySecond(adminUrl: string, appName: string, until: number, faults: FaultRecord[], stopped: () => boolean): Promise<number> {
  let terminated = 0;
  for (let n = 0; n < 3_600 && Date.now() < until && !stopped(); n++) {
    await sleep(1_000);
    try {
      const client = await quietClient(adminUrl);
      try {
        const result = await client.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()`,
          [appName],
        );
        terminated += result.rowCount ?? 0;
        faults.push({ kind: "pg_terminate_backend", at: Date.now(), detail: `${result.rowCount ?? 0} connections` });
      } finally {
        await client.end().catch(() => {});
      }
    } catch {
      // the server is restarting: the next second tries again
    }
  }
  return terminated;
}

/** The pg_ctlcluster restart command, or why there is none here. */
export function restartCommand(): { args: string[] } | { skip: string } {
  const bin = spawnSync("sh", ["-c", "command -v pg_ctlcluster"], { encoding: "utf8" }).stdout.trim();
  if (!bin) return { skip: "pg_ctlcluster is not installed: PostgreSQL restart skipped" };
  if (!existsSync("/etc/postgresql")) return { skip: "no /etc/postgresql: PostgreSQL restart skipped" };
  const version = readdirSync("/etc/postgresql")[0];
  if (version === undefined) return { skip: "no cluster under /etc/postgresql: PostgreSQL restart skipped" };
  return { args: [bin, "--skip-systemctl-redirect", version, "main"] };
}

export async function waitUntilUp(adminUrl: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      const client = await quietClient(adminUrl);
      await client.end();
      return true;
    } catch {
      await sleep(250);
    }
  }
  return false;
}

/** Restarts the cluster once; if it does not come back, starts it (bounded). Returns the error, if any. */
export async function restartPostgres(command: { args: string[] }, adminUrl: string): Promise<string | null> {
  const [bin, ...rest] = command.args;
  const restart = spawnSync(bin!, [...rest, "restart"], { encoding: "utf8", timeout: 60_000 });
  if (await waitUntilUp(adminUrl, 30_000)) return restart.status === 0 ? null : `pg_ctlcluster restart exited ${restart.status}: ${restart.stderr.trim()}`;
  spawnSync(bin!, [...rest, "start"], { encoding: "utf8", timeout: 60_000 });
  if (await waitUntilUp(adminUrl, 30_000)) return `PostgreSQL did not come back after restart (${restart.stderr.trim()}); started it again`;
  return `PostgreSQL is DOWN after the restart; start it with: pg_ctlcluster --skip-systemctl-redirect ${rest[1]} main start`;
}

/**
 * Idle connections held against the database. The server's max_connections
 * bounds how many can be held without refusing everyone else on this shared
 * server, so the count asked for is cut to leave `headroom` slots free.
 */
export class IdleConnections {
  private clients: pg.Client[] = [];
  held = 0;
  limitNote = "";

  constructor(
    private readonly url: string,
    private readonly wanted: number,
    private readonly headroom: number,
  ) {}

  async open(adminUrl: string): Promise<void> {
    const admin = await quietClient(adminUrl);
    let allowed: number;
    try {
      const r = await admin.query<{ max: number; reserved: number; used: number }>(
        `SELECT current_setting('max_connections')::int AS max, current_setting('superuser_reserved_connections')::int AS reserved,
                (SELECT count(*)::int FROM pg_stat_activity WHERE backend_type = 'client backend') AS used`,
      );
      const { max, reserved, used } = r.rows[0]!;
      allowed = Math.max(0, Math.min(this.wanted, max - reserved - used - this.headroom));
      if (allowed < this.wanted) this.limitNote = `${allowed} of ${this.wanted} idle connections held: max_connections ${max}, ${used} in use, ${this.headroom} left free for the run and others`;
    } finally {
      await admin.end().catch(() => {});
    }
    for (let i = this.clients.length; i < allowed; i++) {
      try {
        this.clients.push(await quietClient(this.url));
      } catch {
        break;
      }
    }
    this.held = Math.max(this.held, this.clients.length);
  }

  /** After a restart ended them: open them again. */
  async reopen(adminUrl: string): Promise<void> {
    await this.close();
    await this.open(adminUrl);
  }

  async close(): Promise<void> {
    const clients = this.clients;
    this.clients = [];
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
  }
}

/** One session left idle in a transaction that holds a snapshot, so vacuum cannot remove what the run deletes or updates. */
export class IdleInTransaction {
  private client: pg.Client | null = null;
  openedAt = 0;

  constructor(private readonly url: string) {}

  async open(): Promise<void> {
    this.client = await quietClient(this.url);
    await this.client.query("BEGIN ISOLATION LEVEL REPEATABLE READ");
    await this.client.query("SELECT pg_current_xact_id()");
    this.openedAt = Date.now();
  }

  async reopen(): Promise<void> {
    await this.close();
    await this.open();
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = null;
    if (client) {
      await client.query("ROLLBACK").catch(() => {});
      await client.end().catch(() => {});
    }
  }
}

/** Dead row versions in the run's schema: what the open transaction kept vacuum from removing. */
export async function deadTuples(adminUrl: string, schema: string): Promise<number> {
  const client = await quietClient(adminUrl);
  try {
    const r = await client.query<{ n: number }>(`SELECT coalesce(sum(n_dead_tup), 0)::int AS n FROM pg_stat_user_tables WHERE schemaname = $1`, [schema]);
    return r.rows[0]!.n;
  } finally {
    await client.end().catch(() => {});
  }
}

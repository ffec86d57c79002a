import { readdirSync, readFileSync } from "node:fs";
import { once } from "../systems/pg-schema.js";

/** Clock ticks per second of /proc's utime and stime on Linux. */
const TICKS_PER_SECOND = 100;

/**
 * CPU time used so far by every PostgreSQL server process on this machine
 * (backends, WAL writer, checkpointer), in ms; null when /proc shows none,
 * as when the server runs elsewhere. Processes that ended in between are
 * missed, so a run's figure is a floor; the bench's connections live for
 * the whole run.
 */
export function localPostgresCpuMs(): number | null {
  let ticks = 0;
  let found = false;
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return null;
  }
  for (const pid of entries) {
    if (!/^\d+$/.test(pid)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // ended meanwhile
    }
    const close = stat.lastIndexOf(")");
    if (!stat.slice(stat.indexOf("(") + 1, close).startsWith("postgres")) continue;
    // Fields after "pid (comm) ": state is the first, utime the 12th, stime the 13th.
    const fields = stat.slice(close + 2).split(" ");
    ticks += Number(fields[11]) + Number(fields[12]);
    found = true;
  }
  return found ? (ticks * 1000) / TICKS_PER_SECOND : null;
}

/** The server's write-ahead log position, to measure how much a run wrote. */
export async function walPosition(url: string): Promise<string> {
  const [row] = await once<{ lsn: string }>(url, "SELECT pg_current_wal_lsn()::text AS lsn");
  return row!.lsn;
}

export async function walBytesSince(url: string, from: string): Promise<number> {
  const [row] = await once<{ bytes: string }>(url, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::text AS bytes", [from]);
  return Number(row!.bytes);
}

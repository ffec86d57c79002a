import { OutlastError } from "../core/errors.js";
import type { RemoteLease } from "../engine/remote-work.js";

export const MIN_LEASE_MS = 1000;
export const MAX_LEASE_MS = 600_000;

/**
 * A lease as a worker over HTTP holds it: an opaque string to the worker,
 * here the store's token and the lease's length, so that every renewal
 * extends it by what the claim asked for, on whichever server it reaches.
 */
export function encodeLease(lease: RemoteLease): string {
  return `${lease.token}.${lease.leaseMs}`;
}

export function decodeLease(taskId: string, text: unknown): RemoteLease {
  const match = typeof text === "string" && text.length <= 64 ? /^(\d{1,15})\.(\d{4,6})$/.exec(text) : null;
  const leaseMs = match ? Number(match[2]) : NaN;
  if (!match || leaseMs < MIN_LEASE_MS || leaseMs > MAX_LEASE_MS) {
    throw new OutlastError("bad_request", "lease: send back the lease string the claim gave for this task, as it is", { details: [{ path: ["lease"], message: "not a lease" }] });
  }
  return { taskId, token: Number(match[1]), leaseMs };
}

/** How often a worker should renew a lease of this length: as the engine's own workers do (runner.ts). */
export function heartbeatMsFor(leaseMs: number): number {
  return Math.max(50, Math.min(Math.floor(leaseMs / 3), 2000));
}

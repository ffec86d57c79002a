import { OutlastError } from "../core/errors.js";
import type { SubmitRequest } from "./store.js";

/** How many tasks a batch adds to each queue, and to each owner's share of it: what queue limits are checked against. */
export function additionsByQueue(requests: readonly SubmitRequest[]): Map<string, { total: number; owners: Map<string, number> }> {
  const queues = new Map<string, { total: number; owners: Map<string, number> }>();
  for (const { queue, owner } of requests) {
    let entry = queues.get(queue);
    if (!entry) queues.set(queue, (entry = { total: 0, owners: new Map() }));
    entry.total++;
    entry.owners.set(owner, (entry.owners.get(owner) ?? 0) + 1);
  }
  return queues;
}

/** submitMany stores new tasks only: a keyed submit may find or resume one instead, so it goes through submit. */
export function checkNew(request: SubmitRequest): void {
  if (request.idempotencyKey !== null) {
    throw new OutlastError("bad_request", "Tasks submitted together cannot have idempotency keys; submit those one by one");
  }
  if (request.dedupe !== undefined) {
    throw new OutlastError("bad_request", "Tasks submitted together cannot have dedupe keys; submit those one by one", { details: { field: "dedupe" } });
  }
}

/** A request's rate key and cost, as every store takes them: a bad one is refused before anything is written. */
export function checkRate(request: SubmitRequest): void {
  const cost = request.cost ?? 1;
  if (!Number.isSafeInteger(cost) || cost < 1) throw new OutlastError("bad_request", "cost must be a whole number of at least 1", { details: { field: "cost" } });
  const key = request.rateKey ?? null;
  if (key !== null && (typeof key !== "string" || key.length === 0 || key.length > 256)) {
    throw new OutlastError("bad_request", "a rate key must be a string of 1 to 256 characters", { details: { field: "rateKey" } });
  }
  for (const field of ["concurrencyKey", "tier"] as const) {
    const value = request[field] ?? null;
    if (value !== null && (typeof value !== "string" || value.length === 0 || value.length > 256)) {
      throw new OutlastError("bad_request", `a ${field === "tier" ? "tier" : "concurrency key"} must be a string of 1 to 256 characters`, { details: { field } });
    }
  }
  const limit = request.keyLimit ?? null;
  if (limit !== null && (!Number.isSafeInteger(limit) || limit < 1)) {
    throw new OutlastError("bad_request", "a key's limit must be a whole number of at least 1", { details: { field: "keyLimit" } });
  }
}

/** The key a task counts under for per-key limits and the claims' round-robin (core/key-limits.ts, core/turns.ts). */
export function concurrencyKeyOf(request: Pick<SubmitRequest, "owner" | "concurrencyKey">): string {
  return request.concurrencyKey ?? request.owner;
}

// Steady submits over HTTP to the `serve` process. Each submit carries an
// idempotency key and is retried with it when the answer is lost or a 5xx,
// so a task counts as acknowledged once, when a 200/202 names its id.
import { randomBytes } from "node:crypto";
import { TASK_NAME, type ChaptersInput } from "./tasks.js";

export interface Acknowledged {
  id: string;
  key: string;
  at: number;
}

export interface SubmitStats {
  acknowledged: Acknowledged[];
  /** Submits that were never acknowledged after every retry (refused or unreachable). */
  refused: number;
  /** Retries that a lost answer or a 5xx needed. */
  retries: number;
}

export interface SubmitPlan {
  url: string;
  token: string;
  perSecond: number;
  seconds: number;
  input: ChaptersInput;
  onAcknowledged?: (ack: Acknowledged) => void;
}

const RETRIES = 6;
const MAX_IN_FLIGHT = 16;

async function submitOnce(plan: SubmitPlan, key: string): Promise<{ id: string } | "retry" | "refused"> {
  try {
    const response = await fetch(`${plan.url}/api/v1/tasks`, {
      method: "POST",
      headers: { authorization: `Bearer ${plan.token}`, "content-type": "application/json" },
      body: JSON.stringify({ name: TASK_NAME, input: plan.input, idempotencyKey: key }),
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await response.json().catch(() => null)) as { task?: { id?: string } } | null;
    if ((response.status === 200 || response.status === 202) && typeof body?.task?.id === "string") return { id: body.task.id };
    return response.status >= 500 || response.status === 429 ? "retry" : "refused";
  } catch {
    return "retry";
  }
}

/** Submits `perSecond × seconds` tasks at a steady pace (at most 16 in flight), bounded in count and time. */
export async function submitSteadily(plan: SubmitPlan): Promise<SubmitStats> {
  const stats: SubmitStats = { acknowledged: [], refused: 0, retries: 0 };
  const total = Math.max(1, Math.round(plan.perSecond * plan.seconds));
  const gapMs = 1000 / plan.perSecond;
  const started = Date.now();
  const inFlight = new Set<Promise<void>>();
  const runId = randomBytes(4).toString("hex");
  for (let n = 0; n < total; n++) {
    const due = started + n * gapMs;
    if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
    while (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
    const key = `chaos-${runId}-${n}`;
    const one = (async () => {
      for (let attempt = 0; attempt < RETRIES; attempt++) {
        if (attempt > 0) {
          stats.retries++;
          await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
        }
        const outcome = await submitOnce(plan, key);
        if (outcome === "refused") break;
        if (outcome !== "retry") {
          const ack = { id: outcome.id, key, at: Date.now() };
          stats.acknowledged.push(ack);
          plan.onAcknowledged?.(ack);
          return;
        }
      }
      stats.refused++;
    })();
    inFlight.add(one);
    void one.finally(() => inFlight.delete(one));
  }
  await Promise.all(inFlight);
  return stats;
}

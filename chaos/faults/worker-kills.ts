// kill -9 of worker processes in turn, each started again after a pause.
import type { Cluster } from "../cluster.js";
import type { FaultRecord } from "../recovery.js";

export interface KillPlan {
  everyMs: number;
  pauseMs: number;
  until: number;
  maxKills: number;
}

/** Kills until `until` or `maxKills`; adds each killed pid to `killedPids`. */
export async function killWorkersRepeatedly(cluster: Cluster, plan: KillPlan, faults: FaultRecord[], killedPids: Set<number>, stopped: () => boolean): Promise<void> {
  for (let n = 0; n < plan.maxKills; n++) {
    const wait = plan.everyMs * (0.5 + Math.random());
    if (Date.now() + wait > plan.until || stopped()) return;
    await new Promise((resolve) => setTimeout(resolve, wait));
    const i = n % cluster.workerCount;
    const pid = cluster.workerPid(i);
    if (pid !== undefined) killedPids.add(pid);
    const { killedAt, readyAt } = await cluster.killWorker(i, plan.pauseMs);
    faults.push({ kind: "kill -9 worker", at: killedAt, healthyAt: readyAt, detail: `pid ${pid}` });
  }
}

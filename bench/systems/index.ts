import type { Adapter } from "../lib/adapter.js";
import type { ScenarioSpec } from "../lib/protocol.js";
import { bullmqAdapter } from "./bullmq.js";
import { graphileAdapter } from "./graphile-worker.js";
import { outlastAdapter } from "./outlast.js";
import { pgBossAdapter } from "./pg-boss.js";

/** The adapter of the scenario's system. */
export async function adapterFor(spec: ScenarioSpec): Promise<Adapter> {
  switch (spec.system) {
    case "outlast-sqlite":
    case "outlast-pg":
      return outlastAdapter(spec);
    case "bullmq":
      return bullmqAdapter(spec);
    case "graphile-worker":
      return graphileAdapter(spec);
    case "pg-boss":
      return pgBossAdapter(spec);
    case "outlast-python":
      throw new Error("outlast-python runs only the http-worker scenario (bench/systems/http-worker.ts)");
  }
}

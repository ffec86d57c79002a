import type { TestContext } from "node:test";
import { storeContract } from "../src/store/contract/store-contract.js";
import { postgresStore } from "../src/store/postgres/index.js";
import type { Store } from "../src/store/store.js";
import { guardLeaks } from "./support/leaks.js";
import { PG_URL, testSchema } from "./support/pg.js";

guardLeaks();

/** `count` stores on one fresh schema, each with its own pool as separate processes would have. */
async function open(t: TestContext, count: number): Promise<Store[]> {
  const schema = await testSchema(t);
  const stores: Store[] = [];
  // Registered after the schema's cleanup, so the stores close before the schema is dropped.
  t.after(async () => {
    for (const store of stores) await store.close();
  });
  for (let i = 0; i < count; i++) {
    const store = postgresStore({ connectionString: PG_URL, schema, maxConnections: 4, pollIntervalMs: 200 });
    stores.push(store);
    await store.init();
  }
  return stores;
}

storeContract("postgres", {
  async make(t) {
    const [store] = await open(t, 1);
    return store!;
  },
  async makePair(t) {
    const [a, b] = await open(t, 2);
    return [a!, b!];
  },
});

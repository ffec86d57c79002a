import { guardLeaks } from "./support/leaks.js";
import { tempDbPath } from "./support/temp.js";
import type { TestContext } from "node:test";
import { storeContract } from "../src/store/contract/store-contract.js";
import { sqliteStore } from "../src/store/sqlite/index.js";
import type { Store } from "../src/store/store.js";

guardLeaks();

/** `count` stores on one fresh database file, closed (then the file removed) when the test ends. */
async function open(t: TestContext, count: number): Promise<Store[]> {
  const path = tempDbPath(t);
  const stores: Store[] = [];
  // Cleanups run last registered first: this one closes the stores before the file goes.
  t.after(async () => {
    for (const store of stores) await store.close();
  });
  for (let i = 0; i < count; i++) {
    const store = sqliteStore({ path });
    stores.push(store);
    await store.init();
  }
  return stores;
}

storeContract("sqlite", {
  async make(t) {
    const [store] = await open(t, 1);
    return store!;
  },
  async makePair(t) {
    const [a, b] = await open(t, 2);
    return [a!, b!];
  },
});

import { describe } from "node:test";
import type { TestContext } from "node:test";
import type { Store } from "../store.js";
import { childrenAndWaits } from "./children-and-waits.js";
import { claimingAndLimits } from "./claiming-and-limits.js";
import { dedupe } from "./dedupe.js";
import { deadLetters } from "./dead-letters.js";
import { eventsAndFeed } from "./events-and-feed.js";
import { leasesAndFencing } from "./leases-and-fencing.js";
import { operations } from "./operations.js";
import { rateLimits } from "./rate-limits.js";
import { keyLimits } from "./key-limits.js";
import { search } from "./search.js";
import { stateMachineProperty } from "./state-machine-property.js";
import { submitAndRead } from "./submit-and-read.js";
import { titles } from "./titles.js";
import { workerKeys } from "./worker-keys.js";

/**
 * How the contract suite gets stores. Each store implementation supplies
 * one and runs {@link storeContract} from its own test file.
 */
export interface ContractHarness {
  /** A fresh, empty, initialised store; the harness closes it and removes its data when the test ends (t.after). */
  make(t: TestContext): Promise<Store>;
  /** Two stores on the SAME fresh database (two connections/pools, as two processes would have). */
  makePair(t: TestContext): Promise<[Store, Store]>;
}

/**
 * Registers the store contract: the behaviour every {@link Store} must show,
 * written against the interface only, so SQLite and PostgreSQL run the same
 * tests unchanged. Time is passed in, so no test sleeps to move a clock.
 * @example
 * storeContract("sqlite", { make: async (t) => ..., makePair: async (t) => ... });
 */
export function storeContract(label: string, harness: ContractHarness): void {
  describe(`store contract: ${label}`, () => {
    describe("submit and read", () => submitAndRead(harness));
    describe("claiming and limits", () => claimingAndLimits(harness));
    describe("rate limits", () => rateLimits(harness));
    describe("limits per key", () => keyLimits(harness));
    describe("leases and fencing", () => leasesAndFencing(harness));
    describe("events and feed", () => eventsAndFeed(harness));
    describe("operations", () => operations(harness));
    describe("search", () => search(harness));
    describe("titles", () => titles(harness));
    describe("children, groups and waits", () => childrenAndWaits(harness));
    describe("dedupe keys", () => dedupe(harness));
    describe("dead letters and poison pills", () => deadLetters(harness));
    describe("worker keys", () => workerKeys(harness));
    describe("state machine (property)", () => stateMachineProperty(harness));
  });
}

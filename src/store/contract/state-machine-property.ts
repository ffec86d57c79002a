import { test } from "node:test";
import type { ContractHarness } from "./store-contract.js";
export function stateMachineProperty(_harness: ContractHarness): void {
  test.todo("property");
}

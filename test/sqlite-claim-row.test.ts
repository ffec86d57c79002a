import assert from "node:assert/strict";
import { test } from "node:test";
import { CLAIM_COLUMNS, claimRowOf } from "../src/store/sqlite/records.js";

test("a raw claim row is read back by the columns' own names, in CLAIM_COLUMNS' order", () => {
  const columns = CLAIM_COLUMNS.split(",").map((c) => c.trim());
  const row = claimRowOf(columns);
  assert.deepEqual(Object.keys(row), columns);
  for (const [name, value] of Object.entries(row)) assert.equal(value, name);
});

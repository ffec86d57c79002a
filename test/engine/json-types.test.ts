// What a step, a task's result or a checkpoint is once stored, typed as such:
// checked by tsc (npm test runs it) and, for the values, at run time.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Jsonified, StepResult } from "../../src/index.js";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const expect = <Check extends true>(_check?: Check) => {};

expect<Equal<StepResult<string | undefined>, string | null>>();
expect<Equal<StepResult<void>, null>>();
expect<Equal<StepResult<void | number>, number | null>>();
expect<Equal<StepResult<Date>, string>>();
expect<Equal<Jsonified<(string | undefined)[]>, (string | null)[]>>();
expect<Equal<Jsonified<Map<string, number>>, Record<string, never>>>();

test("the stored shape of a value is what the types say", () => {
  const value = { at: new Date(0), n: 1, maybe: undefined as number | undefined, list: ["a", undefined], fn: () => 1, 0: "zero" };
  const stored: Jsonified<typeof value> = JSON.parse(JSON.stringify(value)) as Jsonified<typeof value>;
  const at: string = stored.at;
  assert.equal(at, "1970-01-01T00:00:00.000Z");
  assert.deepEqual(stored.list, ["a", null]);
  assert.equal(stored[0], "zero");
  assert.equal("fn" in stored, false);
  assert.equal("maybe" in stored, false);
});

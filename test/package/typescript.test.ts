// A TypeScript app type-checks against the packed package's declarations
// with strict flags of its own and without skipLibCheck, under both module
// resolutions a user picks: nodenext (Node) and bundler (Vite, Next.js).
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { guardLeaks } from "../support/leaks.js";
import { consumerApps, startApp } from "./support.js";

guardLeaks();

for (const resolution of ["nodenext", "bundler"]) {
  test(`tsc --noEmit passes with moduleResolution ${resolution}, strict, exactOptionalPropertyTypes, no skipLibCheck`, async (t) => {
    const cwd = join(consumerApps().apps, "typescript");
    const tsc = startApp(t, cwd, process.execPath, ["../node_modules/typescript/bin/tsc", "-p", `tsconfig.${resolution}.json`]);
    // The app has an @ts-expect-error on a wrongly typed submit: were the types `any`, tsc would fail on it.
    assert.equal(await tsc.exited, 0, tsc.output());
  });
}

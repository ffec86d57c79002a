import assert from "node:assert/strict";
import { test } from "node:test";
import { openBrowser, screenshot } from "../support/browser.js";
import registerOpsTasks from "../fixtures/ops-tasks.js";
import { guardLeaks } from "../support/leaks.js";
import { dashboardServer, eventually, textOf } from "./support.js";

guardLeaks();

/** A keyed queue with tiers and a rate-limited one, as the CLI's test serves them. */
const define = registerOpsTasks;

test("an admin sees and edits a queue's rate limit, per-key default, tiers and single keys' limits; a bad value is refused", async (t) => {
  const { outlast, url } = await dashboardServer(t, { define });
  const queue = async (name: string) => (await outlast.listQueues()).find((q) => q.name === name);
  const { page } = await openBrowser(t);
  await page.goto(url);
  const llm = 'tr[data-queue="llm"]';
  const tenants = 'tr[data-queue="tenants"]';
  assert.equal(await eventually(() => textOf(page, `${llm} [data-field="rateLimit"]`), "the rate limit"), "60 / min");
  assert.equal(await textOf(page, `${tenants} [data-field="rateLimit"]`), "—");
  assert.equal(await textOf(page, `${llm} [data-field="perKey"]`), "—", "llm is not keyed");
  assert.equal(await textOf(page, `${tenants} [data-field="perKeyDefault"]`), "1");
  assert.equal(await textOf(page, `${tenants} [data-field="tiers"]`), "free 1 · premium 2");

  // The rate limit: a bad number is refused in the page, one out of the server's bounds by the server, then a good one holds.
  await page.click(`${llm} button:has-text("Limits")`);
  const llmForm = 'form[aria-label="Limits of llm"]';
  await page.fill(`${llmForm} input[name="rateLimit"]`, "ten");
  await page.click(`${llmForm} button:has-text("Save")`);
  assert.match((await eventually(() => textOf(page, `${llmForm} [role="alert"]`), "the refusal of a bad number")) ?? "", /Rate limit must be a whole number/);
  await page.fill(`${llmForm} input[name="rateLimit"]`, "10");
  await page.fill(`${llmForm} input[name="ratePeriodMs"]`, "999999999");
  await page.click(`${llmForm} button:has-text("Save")`);
  assert.match((await eventually(() => textOf(page, `${llmForm} [role="alert"]`).then((s) => (s && /periodMs/.test(s) ? s : undefined)), "the server's refusal")) ?? "", /periodMs/);
  assert.deepEqual((await queue("llm"))?.rateLimit, { limit: 60, periodMs: 60_000, keyed: false }, "nothing changed");
  await page.fill(`${llmForm} input[name="ratePeriodMs"]`, "1000");
  await page.click(`${llmForm} button:has-text("Save")`);
  await eventually(() => textOf(page, `${llm} [data-field="rateLimit"]`).then((s) => (s === "10 / s*" ? s : undefined)), "the new rate limit, marked as an operator's");
  assert.deepEqual((await queue("llm"))?.rateLimit, { limit: 10, periodMs: 1000, keyed: false });

  // The per-key default and tiers, with a tier the code did not declare.
  await page.click(`${tenants} button:has-text("Limits")`);
  const form = 'form[aria-label="Limits of tenants"]';
  await page.fill(`${form} input[name="tier:free"]`, "0");
  await page.click(`${form} button:has-text("Save")`);
  assert.match((await eventually(() => textOf(page, `${form} [role="alert"]`), "the refusal of tier 0")) ?? "", /Tier free must be a whole number/);
  await page.fill(`${form} input[name="tier:free"]`, "2");
  await page.fill(`${form} input[name="perKey"]`, "3");
  await page.fill(`${form} input[name="newTier"]`, "gold");
  await page.fill(`${form} input[name="newTierLimit"]`, "5");
  await page.click(`${form} button:has-text("Save")`);
  await eventually(() => textOf(page, `${tenants} [data-field="perKeyDefault"]`).then((s) => (s === "3*" ? s : undefined)), "the new per-key default");
  assert.equal(await textOf(page, `${tenants} [data-field="tiers"]`), "free 2 · gold 5 · premium 2");
  assert.deepEqual((await queue("tenants"))?.keyConcurrency, { limit: 3, tiers: { free: 2, premium: 2, gold: 5 } });
  assert.equal((await queue("tenants"))?.concurrency, 20, "the queue-wide limit was not sent");

  // A key of its own: added, shown, removed.
  await page.click(`${tenants} button:has-text("Limits")`);
  const keys = '[aria-label="Key limits of tenants"]';
  await page.fill(`${keys} input[name="newKey"]`, "acme");
  await page.fill(`${keys} input[name="newKeyLimit"]`, "many");
  await page.click(`${keys} button:has-text("Add key limit")`);
  assert.match((await eventually(() => textOf(page, `${keys} [role="alert"]`), "the refusal of a bad key limit")) ?? "", /limit of "acme" must be a whole number/);
  await page.fill(`${keys} input[name="newKeyLimit"]`, "7");
  await page.click(`${keys} button:has-text("Add key limit")`);
  await eventually(() => textOf(page, `${keys} li[data-key="acme"]`), "acme in the list");
  assert.match((await textOf(page, `${keys} li[data-key="acme"]`)) ?? "", /acme 7/);
  assert.equal(await eventually(() => textOf(page, `${tenants} [data-field="keyLimitCount"]`), "the count of keys"), "1 key of their own");
  assert.deepEqual((await queue("tenants"))?.keyLimits, { acme: 7 });
  await page.fill(`${keys} input[name="newKey"]`, "globex");
  await page.fill(`${keys} input[name="newKeyLimit"]`, "2");
  await page.click(`${keys} button:has-text("Add key limit")`);
  await eventually(() => textOf(page, `${keys} li[data-key="globex"]`), "globex in the list");
  await page.waitForTimeout(200);
  await screenshot(page, "dashboard-queue-keys");
  await page.click(`${keys} li[data-key="acme"] button:has-text("Remove")`);
  await eventually(async () => ((await page.locator(`${keys} li[data-key="acme"]`).count()) === 0 ? true : undefined), "acme gone from the list");
  assert.deepEqual((await queue("tenants"))?.keyLimits, { globex: 2 });
});

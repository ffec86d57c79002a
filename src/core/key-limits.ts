/**
 * Concurrency per key: every task carries the key its submit computed (its
 * owner, unless the queue's `concurrency.key` says otherwise), a tier (or
 * null) and a limit of its own (or null). A key may run at most
 *
 *   keyLimits[key]  ?? tiers[tier]  ?? the task's own limit  ?? the queue's per-key limit
 *
 * tasks at once; with none of them, no limit. The first two are what an
 * operator changes at run time (`PATCH /api/v1/queues/:name`); `perOwner.concurrency`
 * is this rule with the owner as key. Pure here; the stores count running
 * tasks per key inside the claim they serialise and feed them in.
 */

/** A queue's per-key rules as the store keeps them beside the queue row (null: no per-key limit). */
export interface KeyRules {
  /** Running tasks of one key at once, unless a tier or a key of its own says otherwise; null: none by default. */
  limit: number | null;
  tiers: Record<string, number>;
  keyLimits: Record<string, number>;
}

/** A key's running tasks, as a claim counts them (tier and own limit of any of them: a key's tasks share them). */
export interface KeyRunning {
  key: string;
  n: number;
  tier: string | null;
  own: number | null;
}

/** What a task's key may run at once, or null for no limit. */
export function keyLimitOf(rules: KeyRules, key: string, tier: string | null, own: number | null): number | null {
  const fixed = Object.hasOwn(rules.keyLimits, key) ? rules.keyLimits[key] : undefined;
  if (fixed !== undefined) return fixed;
  const tiered = tier !== null && Object.hasOwn(rules.tiers, tier) ? rules.tiers[tier] : undefined;
  if (tiered !== undefined) return tiered;
  return own ?? rules.limit;
}

/**
 * One claim's count of running tasks per key: which keys are full (a claim's
 * query leaves their tasks out, so one key's backlog cannot crowd the
 * look-ahead), and whether one more task of a key fits (counting it if so).
 */
export class KeyCounts {
  private readonly running = new Map<string, number>();
  private readonly fullKeys: string[] = [];

  constructor(
    private readonly rules: KeyRules,
    counted: readonly KeyRunning[],
  ) {
    for (const { key, n, tier, own } of counted) {
      this.running.set(key, n);
      const limit = keyLimitOf(rules, key, tier, own);
      if (limit !== null && n >= limit) this.fullKeys.push(key);
    }
  }

  /** Keys at (or over: an operator lowered the limit) their limit. */
  get full(): readonly string[] {
    return this.fullKeys;
  }

  /** Whether a task of this key may start beside what runs and what this claim took already; if so it is counted. */
  take(key: string, tier: string | null, own: number | null): boolean {
    const n = this.running.get(key) ?? 0;
    const limit = keyLimitOf(this.rules, key, tier, own);
    if (limit !== null && n >= limit) return false;
    this.running.set(key, n + 1);
    return true;
  }
}

/** Rules read back from storage (JSON text or a parsed value); null when there are none or they do not parse. */
export function readKeyRules(stored: unknown): KeyRules | null {
  const value = typeof stored === "string" ? safeParse(stored) : stored;
  if (value === null || typeof value !== "object") return null;
  const { limit, tiers, keyLimits } = value as Record<string, unknown>;
  return {
    limit: isLimit(limit) ? limit : null,
    tiers: readLimitMap(tiers) ?? {},
    keyLimits: readLimitMap(keyLimits) ?? {},
  };
}

/** A map of names to whole numbers ≥ 1 (others dropped); null when not an object. */
export function readLimitMap(value: unknown): Record<string, number> | null {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return null;
  const out: Record<string, number> = {};
  for (const [name, n] of Object.entries(value)) if (isLimit(n)) out[name] = n;
  return out;
}

function isLimit(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 1;
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/**
 * The argv parser every command shares: `--flag value`, `--flag=value`,
 * switches, positionals, `--` ending the flags. Unknown flags are refused, and
 * each value is checked when the command reads it, so every message names
 * the flag and says what to fix.
 */

/** A mistake in how the command was called; the CLI exits with 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** What a command accepts: each flag takes a value, is a switch, or takes a value each time it is given (`repeat`). `--help`/`-h` are always accepted. */
export interface CommandSpec {
  /** The command's name, for messages ("serve", "submit"…). */
  command: string;
  flags: Readonly<Record<string, "value" | "switch" | "repeat">>;
  /** Names of the positional arguments, in order; all required unless `optionalPositionals` says otherwise. */
  positionals?: readonly string[];
  /** How many of the trailing positionals may be left out. @defaultValue 0 */
  optionalPositionals?: number;
}

/** Parsed argv with checked accessors that throw UsageError on bad values. */
export class Args {
  constructor(
    private readonly spec: CommandSpec,
    private readonly values: ReadonlyMap<string, string | true | readonly string[]>,
    /** Positional arguments, in order. */
    readonly positionals: readonly string[],
  ) {}

  /** True when `--help` or `-h` was given. */
  get help(): boolean {
    return this.values.has("--help");
  }

  has(flag: string): boolean {
    return this.values.has(this.known(flag));
  }

  string(flag: string): string | undefined {
    const value = this.values.get(this.known(flag));
    return typeof value === "string" ? value : undefined;
  }

  /** Every value of a `repeat` flag, in the order given (none: empty). */
  all(flag: string): readonly string[] {
    const value = this.values.get(this.known(flag));
    return Array.isArray(value) ? value : [];
  }

  /** A whole number in `min..max`, or undefined when the flag is absent. */
  int(flag: string, min: number, max: number): number | undefined {
    const text = this.string(flag);
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new UsageError(`${flag} must be a whole number from ${min} to ${max}, got "${text}"`);
    }
    return n;
  }

  /** A comma-separated list without empty items, or undefined when the flag is absent. */
  list(flag: string): string[] | undefined {
    const text = this.string(flag);
    if (text === undefined) return undefined;
    const items = text.split(",").map((s) => s.trim());
    if (items.some((s) => s.length === 0)) throw new UsageError(`${flag} takes names separated by commas, got "${text}"`);
    return items;
  }

  /** One of `choices`, or undefined when the flag is absent. */
  choice<T extends string>(flag: string, choices: readonly T[]): T | undefined {
    const text = this.string(flag);
    if (text === undefined) return undefined;
    if (!(choices as readonly string[]).includes(text)) throw new UsageError(`${flag} must be one of ${choices.join(", ")}, got "${text}"`);
    return text as T;
  }

  private known(flag: string): string {
    // A typo in a command's own code, not in the user's input.
    if (!(flag in this.spec.flags)) throw new Error(`outlast ${this.spec.command} reads undeclared flag ${flag}`);
    return flag;
  }
}

/** Parses argv against `spec`; throws UsageError for an unknown flag, a missing value or a wrong number of positionals. */
export function parseArgs(argv: readonly string[], spec: CommandSpec): Args {
  const values = new Map<string, string | true | readonly string[]>();
  const set = (flag: string, value: string) => {
    const earlier = values.get(flag);
    values.set(flag, spec.flags[flag] === "repeat" ? [...(Array.isArray(earlier) ? earlier : []), value] : value);
  };
  const positionals: string[] = [];
  let flagsEnded = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (flagsEnded || !arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    if (arg === "--") {
      flagsEnded = true;
      continue;
    }
    if (arg === "--help" || arg === "-h") {
      values.set("--help", true);
      continue;
    }
    const eq = arg.indexOf("=");
    const flag = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    const kind = spec.flags[flag];
    if (kind === undefined) throw new UsageError(`Unknown option ${flag} for outlast ${spec.command}; see outlast ${spec.command} --help`);
    if (kind === "switch") {
      if (flag !== arg) throw new UsageError(`${flag} takes no value`);
      values.set(flag, true);
      continue;
    }
    if (flag !== arg) {
      set(flag, arg.slice(eq + 1));
      continue;
    }
    // The next word is the value even when it starts with "-" (a negative priority).
    const next = argv[++i];
    if (next === undefined) throw new UsageError(`${flag} needs a value`);
    set(flag, next);
  }
  const args = new Args(spec, values, positionals);
  if (args.help) return args;
  const names = spec.positionals ?? [];
  const required = names.length - (spec.optionalPositionals ?? 0);
  if (positionals.length < required) {
    throw new UsageError(`outlast ${spec.command} needs ${names.slice(positionals.length, required).map((n) => n.toUpperCase()).join(" ")}; see outlast ${spec.command} --help`);
  }
  if (positionals.length > names.length) {
    throw new UsageError(`Unexpected argument "${positionals[names.length]}" for outlast ${spec.command}; see outlast ${spec.command} --help`);
  }
  return args;
}

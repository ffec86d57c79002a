/**
 * The type of `JSON.parse(JSON.stringify(value))` for a value of type T:
 * what a step's result, a task's result and a checkpoint are after they were
 * stored. Dates become strings, `undefined` and functions drop out of objects
 * (and become null in arrays), Maps and Sets become empty objects.
 */
export type Jsonified<T> = T extends { toJSON(...args: never[]): infer J }
  ? Jsonified<J>
  : T extends string | number | boolean | null
    ? T
    : T extends undefined | symbol | bigint | ((...args: never[]) => unknown)
      ? never
      : T extends ReadonlyMap<unknown, unknown> | ReadonlySet<unknown>
        ? Record<string, never>
        : T extends readonly unknown[]
          ? { [K in keyof T]: T[K] extends undefined | symbol | ((...args: never[]) => unknown) ? null : Jsonified<T[K]> }
          : T extends object
            ? JsonifiedObject<T>
            : unknown;

type Droppable = undefined | symbol | ((...args: never[]) => unknown);

// Keys whose value can only be dropped go away; keys that may be dropped become optional.
type JsonifiedObject<T> = {
  [K in keyof T as K extends string ? ([T[K]] extends [Droppable] ? never : undefined extends T[K] ? never : K) : never]: Jsonified<T[K]>;
} & {
  [K in keyof T as K extends string ? ([T[K]] extends [Droppable] ? never : undefined extends T[K] ? K : never) : never]?: Jsonified<Exclude<T[K], undefined>>;
};

/** What `ctx.step(name, fn)` gives back: `fn`'s value as stored, null for none. */
export type StepResult<T> = [T] extends [undefined | void] ? null : Jsonified<T>;

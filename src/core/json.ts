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
    : T extends Droppable | bigint
      ? never
      : T extends ReadonlyMap<unknown, unknown> | ReadonlySet<unknown>
        ? Record<string, never>
        : T extends readonly unknown[]
          ? { [K in keyof T]: JsonifiedElement<T[K]> }
          : T extends object
            ? JsonifiedObject<T>
            : unknown;

type Droppable = undefined | void | symbol | ((...args: never[]) => unknown);

// In an array a value JSON cannot hold becomes null.
type JsonifiedElement<E> = Jsonified<Exclude<E, Droppable>> | ([Extract<E, Droppable>] extends [never] ? never : null);

// Keys whose value can only be dropped go away; keys that may be dropped become optional. Number keys stay (as JSON's strings do).
type JsonifiedObject<T> = {
  [K in keyof T as K extends string | number ? ([T[K]] extends [Droppable] ? never : undefined extends T[K] ? never : K) : never]: Jsonified<T[K]>;
} & {
  [K in keyof T as K extends string | number ? ([T[K]] extends [Droppable] ? never : undefined extends T[K] ? K : never) : never]?: Jsonified<Exclude<T[K], Droppable>>;
};

/** What `ctx.step(name, fn)` gives back: `fn`'s value as stored, null where it gave none. */
export type StepResult<T> = Jsonified<Exclude<T, undefined | void>> | (undefined extends T ? null : never);

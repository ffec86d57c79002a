/**
 * `instanceof` that holds across two copies of the package. An app can load
 * Outlast twice (two versions in node_modules, `outlast/client` beside
 * `@outlast/client`, a bundle beside node_modules); then a handler's
 * `UnrecoverableError` is not the engine's class, and a plain `instanceof`
 * would retry an error that must not be retried. Each error carries the
 * names of its branded classes under a global symbol, and each branded class
 * answers `instanceof` by that name. A subclass of the user's own, which has
 * no brand of its own, keeps the ordinary prototype check.
 */
const BRANDS = Symbol.for("outlast.brands");

interface Branded {
  [BRANDS]?: readonly string[];
}

/** Marks `target` as an instance of the class branded `brand` (call in its constructor). */
export function addBrand(target: object, brand: string): void {
  const list = (target as Branded)[BRANDS] ?? [];
  Object.defineProperty(target, BRANDS, { value: [...list, brand], enumerable: false, configurable: true });
}

/** The body of a branded class's `static [Symbol.hasInstance]`. */
export function isBranded(constructor: Function, value: unknown): boolean {
  const brand = Object.hasOwn(constructor, "brand") ? (constructor as { brand?: unknown }).brand : undefined;
  if (typeof brand !== "string") return Function.prototype[Symbol.hasInstance].call(constructor, value);
  return typeof value === "object" && value !== null && ((value as Branded)[BRANDS]?.includes(brand) ?? false);
}

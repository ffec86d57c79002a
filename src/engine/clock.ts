/** Milliseconds since the epoch. Injected so tests control time. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

/** What the engine logs through; pino loggers fit as they are. */
export interface Logger {
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
}

export const consoleLogger: Logger = {
  info: () => {},
  warn: (obj, msg) => console.warn(`[outlast] ${msg ?? ""}`, obj),
  error: (obj, msg) => console.error(`[outlast] ${msg ?? ""}`, obj),
};

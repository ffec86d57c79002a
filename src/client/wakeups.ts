/**
 * Subscribes `wake` to the moments when a connection waiting out its backoff
 * should try again at once; returns the function that unsubscribes.
 */
export type Wakeups = (wake: () => void) => () => void;

/** The part of `window` the wakeups listen on. */
export interface WakeTarget {
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

/** The part of `document` the wakeups listen on. */
export interface VisibilityTarget extends WakeTarget {
  readonly visibilityState: string;
}

/**
 * The browser's signs that the server may be reachable again: `online` (the
 * network came back) and the tab becoming visible (a laptop woke up, or a
 * background tab whose timers the browser slowed down). Where there is no
 * window or document (Node), nothing.
 * @defaultValue the page's `window` and `document`
 * @example new OutlastClient({ baseUrl: "", wakeups: browserWakeups(window, document) })
 */
export function browserWakeups(
  win: WakeTarget | undefined = (globalThis as { window?: WakeTarget }).window,
  doc: VisibilityTarget | undefined = (globalThis as { document?: VisibilityTarget }).document,
): Wakeups {
  return (wake) => {
    const onVisibility = () => {
      if (doc?.visibilityState === "visible") wake();
    };
    win?.addEventListener("online", wake);
    doc?.addEventListener("visibilitychange", onVisibility);
    return () => {
      win?.removeEventListener("online", wake);
      doc?.removeEventListener("visibilitychange", onVisibility);
    };
  };
}

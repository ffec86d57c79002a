import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import type { LiveFeed } from "./live.js";

/** The answer of `load`, fetched now, every `everyMs`, and when `deps` change. */
export function usePoll<T>(load: () => Promise<T>, everyMs: number, deps: readonly unknown[]): { data: T | null; error: string | null; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  useEffect(() => {
    let live = true;
    load().then(
      (value) => {
        if (!live) return;
        setData(value);
        setError(null);
      },
      (err: unknown) => live && setError(err instanceof Error ? err.message : String(err)),
    );
    const timer = everyMs > 0 ? setTimeout(reload, everyMs) : undefined;
    return () => {
      live = false;
      clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  return { data, error, reload };
}

/** Re-renders when the live feed changed (at most once per frame). */
export function useFeed(feed: LiveFeed): number {
  const [version, setVersion] = useState(0);
  useEffect(() => feed.subscribe(() => setVersion((n) => n + 1)), [feed]);
  return version;
}

/**
 * Calls `reload` when tasks changed state on the live feed, at most once per
 * `minMs`: counts come from the store, and a burst of finishing tasks must
 * not become a burst of queries.
 */
export function useReloadOnStateChange(feed: LiveFeed, reload: () => void, minMs = 1000): void {
  const last = useRef({ version: feed.stateVersion, at: 0, timer: undefined as ReturnType<typeof setTimeout> | undefined });
  useEffect(() => {
    const check = () => {
      const s = last.current;
      if (feed.stateVersion === s.version || s.timer !== undefined) return;
      const wait = Math.max(0, s.at + minMs - Date.now());
      s.timer = setTimeout(() => {
        s.timer = undefined;
        s.version = feed.stateVersion;
        s.at = Date.now();
        reload();
      }, wait);
    };
    const stop = feed.subscribe(check);
    return () => {
      stop();
      clearTimeout(last.current.timer);
      last.current.timer = undefined;
    };
  }, [feed, reload, minMs]);
}

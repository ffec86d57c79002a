/**
 * The event-stream connection as an explicit state machine (see SPEC.md).
 * The table is typed `Record<State, Record<Signal, State | "ignore">>`, so
 * adding a state or a signal without deciding every cell does not compile.
 */
export type ConnectionState =
  /** Nothing to watch; no connection. */
  | "idle"
  /** A request is in flight, or the response head arrived and no event yet. */
  | "connecting"
  /** Events are flowing. */
  | "open"
  /** Waiting before the next attempt (exponential backoff with jitter). */
  | "backoff"
  /** A 401: asking the application for a fresh token. */
  | "refreshing"
  /** A 404 on a task list: finding which tasks are gone, to drop them. */
  | "pruning"
  /** A 403, or no fresh token: given up until the watched set changes. */
  | "failed"
  /** `close()` was called. Terminal. */
  | "closed";

export type Signal =
  /** The watched set changed and is not empty. */
  | "change"
  /** The watched set became empty. */
  | "empty"
  /** The response was 200 and its first event arrived. */
  | "opened"
  /** The server answered 204: there is nothing more to send. */
  | "ended"
  /** Network error, the server closed the stream, a 5xx/429, or the watchdog fired. */
  | "dropped"
  | "unauthorized"
  | "refreshed"
  | "refreshFailed"
  | "forbidden"
  | "notFound"
  /** Missing tasks were dropped from the set. */
  | "pruned"
  /** The backoff delay is over. */
  | "retryDue"
  /** A moment to try again at once instead of waiting: the browser went online, or the tab became visible. */
  | "wake"
  | "close";

/** Entering `connecting` again from `connecting` restarts the request; "ignore" leaves everything as it is. */
export const TRANSITIONS: Readonly<Record<ConnectionState, Readonly<Record<Signal, ConnectionState | "ignore">>>> = {
  idle: {
    change: "connecting", empty: "ignore", opened: "ignore", ended: "ignore", dropped: "ignore", unauthorized: "ignore",
    refreshed: "ignore", refreshFailed: "ignore", forbidden: "ignore", notFound: "ignore", pruned: "ignore", retryDue: "ignore",
    wake: "ignore",
    close: "closed",
  },
  connecting: {
    change: "connecting", empty: "idle", opened: "open", ended: "idle", dropped: "backoff", unauthorized: "refreshing",
    refreshed: "ignore", refreshFailed: "ignore", forbidden: "failed", notFound: "pruning", pruned: "ignore", retryDue: "ignore",
    wake: "ignore",
    close: "closed",
  },
  open: {
    change: "connecting", empty: "idle", opened: "ignore", ended: "idle", dropped: "backoff", unauthorized: "refreshing",
    refreshed: "ignore", refreshFailed: "ignore", forbidden: "failed", notFound: "pruning", pruned: "ignore", retryDue: "ignore",
    wake: "ignore",
    close: "closed",
  },
  backoff: {
    // A change while waiting keeps the wait: the server was unreachable a moment ago.
    change: "ignore", empty: "idle", opened: "ignore", ended: "ignore", dropped: "ignore", unauthorized: "ignore",
    refreshed: "ignore", refreshFailed: "ignore", forbidden: "ignore", notFound: "ignore", pruned: "ignore", retryDue: "connecting",
    wake: "connecting",
    close: "closed",
  },
  refreshing: {
    change: "ignore", empty: "idle", opened: "ignore", ended: "ignore", dropped: "ignore", unauthorized: "ignore",
    refreshed: "connecting", refreshFailed: "failed", forbidden: "ignore", notFound: "ignore", pruned: "ignore", retryDue: "ignore",
    wake: "ignore",
    close: "closed",
  },
  pruning: {
    change: "ignore", empty: "idle", opened: "ignore", ended: "ignore", dropped: "backoff", unauthorized: "refreshing",
    refreshed: "ignore", refreshFailed: "ignore", forbidden: "failed", notFound: "ignore", pruned: "connecting", retryDue: "ignore",
    wake: "ignore",
    close: "closed",
  },
  failed: {
    change: "connecting", empty: "idle", opened: "ignore", ended: "ignore", dropped: "ignore", unauthorized: "ignore",
    refreshed: "ignore", refreshFailed: "ignore", forbidden: "ignore", notFound: "ignore", pruned: "ignore", retryDue: "ignore",
    wake: "ignore",
    close: "closed",
  },
  closed: {
    change: "ignore", empty: "ignore", opened: "ignore", ended: "ignore", dropped: "ignore", unauthorized: "ignore",
    refreshed: "ignore", refreshFailed: "ignore", forbidden: "ignore", notFound: "ignore", pruned: "ignore", retryDue: "ignore",
    wake: "ignore",
    close: "ignore",
  },
};

/** The next state, or null when the signal is ignored in this state. */
export function next(state: ConnectionState, signal: Signal): ConnectionState | null {
  const to = TRANSITIONS[state][signal];
  return to === "ignore" ? null : to;
}

/** Delay before attempt `attempt` (0-based): exponential, capped, with full jitter in its upper half. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

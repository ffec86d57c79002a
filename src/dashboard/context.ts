import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Api } from "./api.js";
import type { LiveFeed } from "./live.js";

export interface Session {
  api: Api;
  feed: LiveFeed;
}

export const SessionContext = createContext<Session | null>(null);

/** The signed-in session; only rendered inside the app shell once a key is known. */
export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside the signed-in app");
  return session;
}

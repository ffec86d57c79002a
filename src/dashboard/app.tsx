import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { Api, ApiError } from "./api.js";
import { apiBase, forgetKey, initialKey, saveKey } from "./auth.js";
import { ChartsCard } from "./charts.js";
import { SessionContext, useSession } from "./context.js";
import { useFeed } from "./hooks.js";
import { LiveFeed } from "./live.js";
import { QueuesCard } from "./queues.js";
import { navigate, taskHref, tasksHref, useRoute, type Route } from "./router.js";
import { DeadPage } from "./dead-page.js";
import { FailuresCard, RunningCard } from "./running.js";
import { TaskPage } from "./task-page.js";
import { TasksPage } from "./tasks-page.js";
import { NodesCard, WorkersCard } from "./workers.js";

const KEY_REFUSED = "The server refused the admin key: it may have restarted with a new one. Sign in again with the key it printed.";

/**
 * The dashboard: a login until a key is known, then the signed-in shell; a
 * 401 from any call signs out, back to the login, saying why.
 */
export function App() {
  const [key, setKey] = useState(() => initialKey());
  const [notice, setNotice] = useState<string | null>(null);
  if (!key) {
    return (
      <Login
        notice={notice}
        onKey={(next) => {
          setNotice(null);
          setKey(next);
        }}
      />
    );
  }
  const signOut = (why: string | null) => {
    forgetKey();
    setNotice(why);
    setKey(null);
  };
  return <Shell key={key} adminKey={key} onLogout={() => signOut(null)} onRefused={() => signOut(KEY_REFUSED)} />;
}

function Login({ onKey, notice }: { onKey: (key: string) => void; notice: string | null }) {
  const [value, setValue] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main class="login">
      <form
        class="card login-card"
        onSubmit={async (e) => {
          e.preventDefault();
          const key = value.trim();
          if (!key) return;
          setBusy(true);
          setError(null);
          try {
            await new Api(apiBase(), key).get("/api/v1/queues");
            saveKey(key);
            onKey(key);
          } catch (err) {
            setError(err instanceof ApiError && (err.status === 401 || err.status === 403) ? "That key was refused: it must be the server's admin key." : String((err as Error).message));
          } finally {
            setBusy(false);
          }
        }}
      >
        <h1>Outlast</h1>
        <p class="muted">Sign in with the admin key the server printed when it started (or set in OUTLAST_ADMIN_KEY).</p>
        {notice && !error ? (
          <p class="notice" role="status">
            {notice}
          </p>
        ) : null}
        <label for="admin-key">Admin key</label>
        <input id="admin-key" type="password" autoComplete="off" value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} autoFocus />
        {error ? <p class="error-note" role="alert">{error}</p> : null}
        <button class="btn btn-primary" type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}

function Shell({ adminKey, onLogout, onRefused }: { adminKey: string; onLogout: () => void; onRefused: () => void }) {
  // Through a ref: the session lives as long as the key, the callback is new each render.
  const refused = useRef(onRefused);
  refused.current = onRefused;
  const session = useMemo(() => {
    const onUnauthorized = () => refused.current();
    return { api: new Api(apiBase(), adminKey, onUnauthorized), feed: new LiveFeed(apiBase(), adminKey, onUnauthorized) };
  }, [adminKey]);
  useEffect(() => () => session.feed.close(), [session]);
  const route = useRoute();
  return (
    <SessionContext.Provider value={session}>
      <header class="topbar">
        <a class="brand" href="#/">
          Outlast
        </a>
        <nav class="nav" aria-label="Sections">
          <NavLink href="#/" active={route.page === "overview"}>Overview</NavLink>
          <NavLink href="#/tasks" active={route.page === "tasks" && route.params.get("state") !== "failed"}>Tasks</NavLink>
          <NavLink href={tasksHref({ state: "failed" })} active={route.page === "tasks" && route.params.get("state") === "failed"}>Failed</NavLink>
          <NavLink href="#/dead" active={route.page === "dead"}>Dead letters</NavLink>
          <NavLink href="#/workers" active={route.page === "workers"}>Workers</NavLink>
        </nav>
        <Search />
        <Connection />
        <button type="button" class="btn btn-quiet" onClick={onLogout}>
          Sign out
        </button>
      </header>
      <main class="content">
        <Page route={route} />
      </main>
    </SessionContext.Provider>
  );
}

function NavLink({ href, active, children }: { href: string; active: boolean; children: string }) {
  return (
    <a href={href} class={active ? "active" : ""} aria-current={active ? "page" : undefined}>
      {children}
    </a>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case "overview":
      return (
        <div class="stack">
          <QueuesCard />
          <RunningCard />
          <ChartsCard />
          <FailuresCard />
          <WorkersCard />
          <NodesCard />
        </div>
      );
    case "tasks":
      return <TasksPage params={route.params} />;
    case "task":
      return <TaskPage key={route.id} id={route.id} />;
    case "dead":
      return <DeadPage params={route.params} />;
    case "workers":
      return (
        <div class="stack">
          <WorkersCard />
          <NodesCard />
        </div>
      );
  }
}

/** One field: tasks whose id, owner, name or title starts with the text; or, asked for, the task of an exact id. */
function Search() {
  const [kind, setKind] = useState<"prefix" | "id">("prefix");
  const [text, setText] = useState("");
  return (
    <form
      class="search"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        const value = text.trim();
        if (!value) return;
        navigate(kind === "id" ? taskHref(value) : tasksHref({ q: value }));
      }}
    >
      <select aria-label="Search by" value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value as typeof kind)}>
        <option value="prefix">Starts with</option>
        <option value="id">Task id</option>
      </select>
      <input
        aria-label="Search"
        type="search"
        placeholder="Id, owner, name or title…"
        value={text}
        onInput={(e) => setText((e.target as HTMLInputElement).value)}
      />
      <button class="btn" type="submit">
        Go
      </button>
    </form>
  );
}

function Connection() {
  const { feed } = useSession();
  useFeed(feed);
  const state = feed.connection;
  const label = feed.lost ? "connection lost · reconnecting" : state === "open" ? "live" : state === "connecting" ? "connecting" : state === "backoff" ? "reconnecting" : state;
  return (
    <span class={`conn conn-${state}${feed.lost ? " conn-lost" : ""}`} role="status" aria-label={`Live updates: ${label}`}>
      <span class="dot" aria-hidden="true" />
      {label}
    </span>
  );
}

import { useEffect, useState } from "preact/hooks";

/** The page a hash names: `#/`, `#/tasks?state=failed`, `#/task/ID`, `#/workers`, `#/dead?queue=…`. */
export type Route =
  | { page: "overview" }
  | { page: "tasks"; params: URLSearchParams }
  | { page: "task"; id: string }
  | { page: "workers" }
  | { page: "dead"; params: URLSearchParams };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, "");
  const [pathname = "", search = ""] = path.split("?", 2);
  if (pathname.startsWith("/task/")) return { page: "task", id: decodeURIComponent(pathname.slice("/task/".length)) };
  if (pathname === "/tasks") return { page: "tasks", params: new URLSearchParams(search) };
  if (pathname === "/workers") return { page: "workers" };
  if (pathname === "/dead") return { page: "dead", params: new URLSearchParams(search) };
  return { page: "overview" };
}

export function taskHref(id: string): string {
  return `#/task/${encodeURIComponent(id)}`;
}

export function tasksHref(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value) q.set(key, value);
  const text = q.toString();
  return `#/tasks${text ? `?${text}` : ""}`;
}

export function deadHref(params: Record<string, string | undefined>): string {
  return tasksHref(params).replace("#/tasks", "#/dead");
}

export function navigate(hash: string): void {
  location.hash = hash;
}

/** The current route, following hash changes. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", onChange);
    return () => removeEventListener("hashchange", onChange);
  }, []);
  return route;
}

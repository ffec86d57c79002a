import type { Context, Hono } from "hono";
import type { z } from "zod";
import { OutlastError } from "../core/errors.js";
import { requireAdmin, type Principal } from "./auth.js";
import { parseBody, readJson } from "./body.js";
import type { ServerContext } from "./context.js";

/**
 * Who may call a route, as the OpenAPI document says and the router enforces:
 * - `none`: anyone, no credentials read;
 * - `admin`: the admin key only (others: 403);
 * - `owner`: the admin key, an owner token or the session cookie (the handler refuses a task token, after its own 404 checks);
 * - `task`: any of those or the task's own token;
 * - `worker`: a worker key only (the handler reads it: server/worker-auth.ts; anything else 403).
 */
export type RouteAuth = "none" | "admin" | "owner" | "task" | "worker";

export type RouteMethod = "get" | "post" | "patch" | "put" | "delete";

/** One documented answer of a route. */
export interface RouteResponse {
  description: string;
  /** Default `application/json`. */
  contentType?: string;
  /** Its body, for the document (response-schemas.ts); a test checks real answers against it. */
  schema?: z.ZodType;
  /** Response headers worth naming, with what they carry. */
  headers?: Readonly<Record<string, string>>;
}

/** What a route's handler gets besides Hono's context. */
export interface RouteInput<B, Q> {
  /** The caller: the admin key for `admin` routes; `null` for `none` and `worker` (whose handlers read the worker key). */
  principal: Principal | null;
  /** Reads the JSON body and parses it with the route's `body` schema (400 `bad_request` naming the field). */
  body(): Promise<B>;
  /** Parses the query with the route's `query` schema (400 `bad_request`, `details.field`). Unknown parameters are ignored. */
  query(): Q;
}

/** A route as written: what the document says, and the handler it runs. */
export interface RouteSpec<B, Q> {
  method: RouteMethod;
  /** A Hono path template: `/api/v1/tasks/:id`. */
  path: string;
  /** A unique name for the operation (OpenAPI `operationId`). */
  id: string;
  summary: string;
  description?: string;
  /** Groups operations in the document. */
  tag: string;
  auth: RouteAuth;
  /** `?token=TOKEN` is accepted too (event streams and files opened by the browser without headers). */
  queryToken?: boolean;
  /** Descriptions of the path parameters, by name; every `:name` of `path` must have one. */
  params?: Readonly<Record<string, string>>;
  /** Request headers the route reads, with what they do (`Last-Event-ID`, `Range`). */
  headers?: Readonly<Record<string, string>>;
  /** The query parameters: an object schema of strings. */
  query?: z.ZodType<Q>;
  /** The JSON body, parsed by `input.body()`. */
  body?: z.ZodType<B>;
  /**
   * A body the server accepts, sent by the OpenAPI test to the real server
   * (which must not answer 400). Required with `body`.
   */
  example?: unknown;
  /** Example values of the path parameters and query, for the same test (defaults: a missing task id). */
  exampleParams?: Readonly<Record<string, string>>;
  exampleQuery?: Readonly<Record<string, string>>;
  /** The answers, by status ("200", "202", …); errors are described once for all routes. */
  responses: Readonly<Record<string, RouteResponse>>;
  /** Mounted only when this holds (e.g. the home page, which the app can turn off). */
  when?: (ctx: ServerContext) => boolean;
  handle(c: Context, ctx: ServerContext, input: RouteInput<B, Q>): Response | Promise<Response>;
}

/** A route with its types erased, as the table holds it. */
export interface Route extends Omit<RouteSpec<unknown, unknown>, "handle" | "query" | "body"> {
  query?: z.ZodType;
  body?: z.ZodType;
  run(c: Context, ctx: ServerContext): Promise<Response>;
}

/**
 * Declares a route. The only way to add one: the router mounts what the
 * table lists (routes.ts), and the OpenAPI document is made from the same
 * list, so a route cannot be answered without being described.
 */
export function defineRoute<B = never, Q = Record<string, never>>(spec: RouteSpec<B, Q>): Route {
  const { handle, ...meta } = spec;
  const names = pathParams(spec.path);
  for (const name of names) {
    if (spec.params?.[name] === undefined) throw new Error(`route ${spec.id}: path parameter :${name} needs a description in params`);
  }
  if (spec.body !== undefined && spec.example === undefined) throw new Error(`route ${spec.id}: a route with a body needs an example body`);
  return {
    ...meta,
    async run(c, ctx) {
      const principal = spec.auth === "none" || spec.auth === "worker" ? null : await ctx.authenticate(c.req.raw, spec.queryToken === true);
      if (spec.auth === "admin" && principal !== null) requireAdmin(principal);
      const input: RouteInput<B, Q> = {
        principal,
        body: async () => {
          if (spec.body === undefined) throw new Error(`route ${spec.id} has no body schema`);
          return parseBody(spec.body, await readJson(c.req.raw, ctx.options.bodyLimitBytes));
        },
        query: () => {
          if (spec.query === undefined) throw new Error(`route ${spec.id} has no query schema`);
          return parseQuery(spec.query, c.req.query());
        },
      };
      return handle(c, ctx, input);
    },
  };
}

/** The principal of a route that authenticates (every `auth` but `none`). */
export function caller(input: { principal: Principal | null }): Principal {
  if (input.principal === null) throw new Error("this route does not authenticate");
  return input.principal;
}

/** Mounts every route of `routes` that applies to this handler on `app`. */
export function mountRoutes(app: Hono, ctx: ServerContext, routes: readonly Route[]): void {
  const seen = new Set<string>();
  for (const route of routes) {
    const key = `${route.method} ${route.path}`;
    if (seen.has(key) || seen.has(route.id)) throw new Error(`route ${key} (${route.id}) is declared twice`);
    seen.add(key).add(route.id);
    if (route.when !== undefined && !route.when(ctx)) continue;
    app.on(route.method.toUpperCase(), route.path, (c) => route.run(c, ctx));
  }
}

/** The `:name` parameters of a path template, in order. */
export function pathParams(path: string): string[] {
  return [...path.matchAll(/:([A-Za-z0-9_]+)/g)].map((match) => match[1]!);
}

/**
 * Parses a query with a zod schema; the first problem answers `bad_request`
 * "Query parameter FIELD PROBLEM" with `details: {field}`, so a schema's
 * messages read as the end of that sentence ("must be 1 to 512 characters").
 */
export function parseQuery<Q>(schema: z.ZodType<Q>, query: Record<string, string>): Q {
  const result = schema.safeParse(query);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue?.path[0] === undefined ? "query" : String(issue.path[0]);
  throw new OutlastError("bad_request", `Query parameter ${field} ${issue?.message ?? "is not valid"}`, { details: { field } });
}

/** A path parameter of the matched route (its template names it, so it is there). */
export function param(c: Context, name: string): string {
  const value = c.req.param(name) as string | undefined;
  if (value === undefined) throw new Error(`the route has no path parameter :${name}`);
  return value;
}

import { z } from "zod";
import { SESSION_COOKIE } from "./auth.js";
import { errorSchema } from "./response-schemas.js";
import { pathParams, type Route, type RouteAuth } from "./route.js";

/** A JSON value as the document holds it. */
export type JsonObject = { [key: string]: unknown };

/** An OpenAPI 3.1 document (the parts Outlast writes; every object may hold more). */
export interface OpenApiDocument {
  openapi: "3.1.0";
  info: { title: string; version: string; description: string };
  jsonSchemaDialect: string;
  servers: { url: string; description: string }[];
  tags: { name: string }[];
  paths: Record<string, Record<string, JsonObject>>;
  components: { schemas: Record<string, JsonObject>; securitySchemes: Record<string, JsonObject>; responses: Record<string, JsonObject> };
}

/** The version of the HTTP API this document describes (API.md "v1", with its extensions). */
export const API_VERSION = "1.0.0";

const DIALECT = "https://json-schema.org/draft/2020-12/schema";

const SECURITY_SCHEMES: Record<string, JsonObject> = {
  adminKey: {
    type: "http",
    scheme: "bearer",
    description: "The admin key (`OUTLAST_ADMIN_KEY`, or the one the server made and printed): may do everything.",
  },
  ownerToken: {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "An owner token (`POST /api/v1/tokens`, `mintOwnerToken`, or a session): the tasks of one owner.",
  },
  taskToken: {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "A task token (the `token` a submit answers): reads and watches that one task.",
  },
  sessionCookie: {
    type: "apiKey",
    in: "cookie",
    name: SESSION_COOKIE,
    description: "The anonymous session's owner token (`POST /api/v1/session`); a write needs an allowed `Origin`.",
  },
  workerKey: {
    type: "http",
    scheme: "bearer",
    description: "A worker key (`owk_…`, `POST /api/v1/worker-keys`): claims and runs tasks of its queues over HTTP, nothing else.",
  },
  queryToken: {
    type: "apiKey",
    in: "query",
    name: "token",
    description: "Any of the tokens as `?token=`, only on event streams and artifact downloads (for `EventSource` and links).",
  },
};

/** Who each kind of route lets in, as OpenAPI security requirements (any one of them). */
const SECURITY_OF: Record<Exclude<RouteAuth, "none">, string[]> = {
  admin: ["adminKey"],
  owner: ["adminKey", "ownerToken", "sessionCookie"],
  task: ["adminKey", "ownerToken", "sessionCookie", "taskToken"],
  worker: ["workerKey"],
};

/** The error answers, each with the codes API.md gives it. */
const ERROR_RESPONSES: Record<string, { status: string; description: string }> = {
  BadRequest: { status: "400", description: "`bad_request` (and `bad_cursor`, `invalid_title`, `unknown_queue`): the body, a query parameter or a field is wrong; the message says how" },
  Unauthorized: { status: "401", description: "`unauthorized`: a missing, malformed, expired or forged token" },
  Forbidden: { status: "403", description: "`forbidden`: a valid token that may not do this" },
  NotFound: { status: "404", description: "`not_found` (also another owner's task), `unknown_task_name`" },
  Conflict: { status: "409", description: "`conflict`: an illegal transition" },
  PayloadTooLarge: { status: "413", description: "`payload_too_large`: the body is over the limit" },
  InvalidInput: { status: "422", description: "`invalid_input`: the task's schema refused the input; `details` says where" },
  TooMany: { status: "429", description: "`queue_full` or `rate_limited`; `Retry-After` says when to try again" },
  Unavailable: { status: "503", description: "`unavailable`: shutting down, or the store is unreachable" },
};

/**
 * The OpenAPI 3.1 document of `routes`: request bodies and query parameters
 * from the zod schemas the routes parse with, answers from their response
 * schemas, security from their `auth`.
 */
export function openApiDocument(routes: readonly Route[], options: { basePath?: string } = {}): OpenApiDocument {
  const schemas: Record<string, JsonObject> = {};
  const convert = (schema: z.ZodType, io: "input" | "output") => jsonSchema(schema, io, schemas);
  convert(errorSchema, "output");

  const paths: Record<string, Record<string, JsonObject>> = {};
  const tags = new Set<string>();
  for (const route of routes) {
    tags.add(route.tag);
    const path = route.path.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
    const operation: JsonObject = { operationId: route.id, summary: route.summary, tags: [route.tag] };
    if (route.description !== undefined) operation.description = route.description;
    if (route.when !== undefined) operation["x-outlast-optional"] = true;

    const parameters: JsonObject[] = pathParams(route.path).map((name) => ({
      name,
      in: "path",
      required: true,
      description: route.params?.[name] ?? name,
      schema: { type: "string" },
      ...(route.exampleParams?.[name] !== undefined ? { example: route.exampleParams[name] } : {}),
    }));
    if (route.query !== undefined) parameters.push(...queryParameters(convert(route.query, "input"), route.exampleQuery));
    for (const [name, description] of Object.entries(route.headers ?? {})) parameters.push({ name, in: "header", required: false, description, schema: { type: "string" } });
    if (parameters.length > 0) operation.parameters = parameters;

    if (route.body !== undefined) {
      operation.requestBody = { required: true, content: { "application/json": { schema: convert(route.body, "input"), example: route.example } } };
    }

    const responses: Record<string, JsonObject> = {};
    for (const [status, answer] of Object.entries(route.responses)) {
      const response: JsonObject = { description: answer.description };
      if (answer.headers !== undefined) {
        response.headers = Object.fromEntries(Object.entries(answer.headers).map(([name, description]) => [name, { description, schema: { type: "string" } }]));
      }
      if (status !== "204" && status !== "304") {
        const contentType = answer.contentType ?? "application/json";
        const schema = answer.schema !== undefined ? convert(answer.schema, "output") : contentType === "application/json" ? {} : { type: "string" };
        response.content = { [contentType]: { schema } };
      }
      responses[status] = response;
    }
    for (const name of errorsOf(route)) responses[ERROR_RESPONSES[name]!.status] = { $ref: `#/components/responses/${name}` };
    operation.responses = responses;
    operation.security = route.auth === "none" ? [] : [...SECURITY_OF[route.auth], ...(route.queryToken ? ["queryToken"] : [])].map((scheme) => ({ [scheme]: [] }));

    (paths[path] ??= {})[route.method] = operation;
  }

  return {
    openapi: "3.1.0",
    info: {
      title: "Outlast HTTP API",
      version: API_VERSION,
      description:
        "Durable background tasks with live progress. The v1 contract is docs/api.md; docs/api-extensions.md adds to it. Every non-2xx answer is `{\"error\": {\"code\", \"message\", \"details\"?}}`.",
    },
    jsonSchemaDialect: DIALECT,
    servers: [{ url: options.basePath === undefined || options.basePath === "" ? "/" : options.basePath, description: "This handler's mount prefix" }],
    tags: [...tags].map((name) => ({ name })),
    paths,
    components: {
      schemas,
      securitySchemes: SECURITY_SCHEMES,
      responses: Object.fromEntries(
        Object.entries(ERROR_RESPONSES).map(([name, { description }]) => [name, { description, content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } }]),
      ),
    },
  };
}

/** The error answers a route may give, from what it does: so each operation lists only its own. */
function errorsOf(route: Route): string[] {
  const names: string[] = [];
  if (route.body !== undefined || route.query !== undefined) names.push("BadRequest");
  if (route.auth !== "none") names.push("Unauthorized", "Forbidden");
  if (route.path.includes(":") || route.auth !== "none") names.push("NotFound");
  if (route.method !== "get") names.push("Conflict");
  if (route.body !== undefined) names.push("PayloadTooLarge", "InvalidInput");
  if (route.method === "post" || route.path.includes("/events")) names.push("TooMany");
  names.push("Unavailable");
  return names;
}

/**
 * A zod schema as JSON Schema 2020-12, its named parts (`.meta({ id })`)
 * moved to `components.schemas` and referred to there.
 */
function jsonSchema(schema: z.ZodType, io: "input" | "output", components: Record<string, JsonObject>): JsonObject {
  const converted = z.toJSONSchema(schema, { target: "draft-2020-12", io, unrepresentable: "any" }) as JsonObject;
  delete converted.$schema;
  const defs = converted.$defs as Record<string, JsonObject> | undefined;
  delete converted.$defs;
  for (const [id, def] of Object.entries(defs ?? {})) components[id] = relinked(def) as JsonObject;
  return relinked(converted) as JsonObject;
}

function relinked(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(relinked);
  if (value === null || typeof value !== "object") return value;
  const out: JsonObject = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] = key === "$ref" && typeof item === "string" ? item.replace(/^#\/\$defs\//, "#/components/schemas/") : relinked(item);
  }
  return out;
}

/** An object schema of query strings as OpenAPI `in: query` parameters. */
function queryParameters(schema: JsonObject, examples: Readonly<Record<string, string>> | undefined): JsonObject[] {
  const properties = (schema.properties ?? {}) as Record<string, JsonObject>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...rest } = property;
    const parameter: JsonObject = { name, in: "query", required: required.has(name), schema: rest };
    if (typeof description === "string") parameter.description = description;
    if (examples?.[name] !== undefined) parameter.example = examples[name];
    return parameter;
  });
}

import { adminRoutes } from "./admin-routes.js";
import { dashboardRoutes } from "./dashboard-routes.js";
import { deadRoutes } from "./dead-routes.js";
import { familyRoutes } from "./family-routes.js";
import { openApiDocument, type OpenApiDocument } from "./openapi.js";
import { opsRoutes } from "./ops-routes.js";
import { documentAnswer } from "./response-schemas.js";
import { defineRoute, type Route } from "./route.js";
import { streamRoutes } from "./stream-routes.js";
import { taskRoutes } from "./task-routes.js";
import { workerKeyRoutes } from "./worker-key-routes.js";
import { workerRoutes } from "./worker-routes.js";

const documents = new Map<string, OpenApiDocument>();

const serviceRoutes: readonly Route[] = [
  defineRoute({
    method: "get",
    path: "/api/v1/openapi.json",
    id: "openApi",
    tag: "meta",
    summary: "This document: OpenAPI 3.1 for the whole HTTP API",
    auth: "none",
    responses: { "200": { description: "The OpenAPI document, its `servers` at this handler's mount prefix", schema: documentAnswer } },
    handle(c, ctx) {
      let document = documents.get(ctx.basePath);
      if (document === undefined) documents.set(ctx.basePath, (document = apiDocument(ctx.basePath)));
      return c.json(document);
    },
  }),
  defineRoute({
    method: "get",
    path: "/",
    id: "home",
    tag: "meta",
    summary: "A page that says where the dashboard and the API are",
    description: "Not mounted when the handler's `homePage` is `null` (`outlast serve` puts its app there).",
    auth: "none",
    when: (ctx) => ctx.homePage !== null,
    responses: { "200": { description: "The page", contentType: "text/html" } },
    handle: (c, ctx) => c.html(ctx.homePage ?? ""),
  }),
];

/**
 * Every route of the HTTP API, in the order the router tries them. The
 * handler mounts exactly these and the OpenAPI document describes exactly
 * these: to add a route, declare it with `defineRoute` in a module's list
 * and make sure that list is spread here.
 */
export const ROUTES: readonly Route[] = [
  ...taskRoutes,
  ...familyRoutes,
  ...deadRoutes,
  ...streamRoutes,
  ...adminRoutes,
  ...workerKeyRoutes,
  ...workerRoutes,
  ...opsRoutes,
  ...dashboardRoutes,
  ...serviceRoutes,
];

/**
 * The OpenAPI 3.1 document of the HTTP API (what `GET /api/v1/openapi.json`
 * answers, and the package's `outlast/openapi.json`), its `servers` at the
 * mount prefix.
 * @example
 * const doc = apiDocument("/jobs"); // doc.servers[0].url === "/jobs"
 */
export function apiDocument(basePath = ""): OpenApiDocument {
  return openApiDocument(ROUTES, { basePath });
}

export { createHandler } from "./handler.js";
export type { OutlastHandler } from "./handler.js";
export type { HandlerOptions } from "./options.js";
export { serve, toNodeListener } from "./node.js";
export type { ServeOptions, RunningServer } from "./node.js";
export { mintOwnerToken } from "./tokens.js";
export type { MintOwnerTokenOptions } from "./tokens.js";
export { STATUS_OF } from "./errors.js";
export type { ErrorBody } from "./errors.js";

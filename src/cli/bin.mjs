#!/usr/bin/env node
// The package ships TypeScript sources for now; run them through tsx.
import { register } from "tsx/esm/api";

register();
await import("./main.ts");

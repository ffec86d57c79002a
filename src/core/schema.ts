import type { StandardSchemaV1 } from "@standard-schema/spec";
import { InvalidInputError, type InputIssue } from "./errors.js";

export type { StandardSchemaV1 };

/** Validates `value` with any Standard Schema validator (zod, valibot, arktype…). */
export async function validateInput<S extends StandardSchemaV1>(
  taskName: string,
  schema: S,
  value: unknown,
): Promise<StandardSchemaV1.InferOutput<S>> {
  let result = schema["~standard"].validate(value);
  if (result instanceof Promise) result = await result;
  if (result.issues) {
    throw new InvalidInputError(taskName, result.issues.map(toIssue));
  }
  return result.value as StandardSchemaV1.InferOutput<S>;
}

function toIssue(issue: StandardSchemaV1.Issue): InputIssue {
  const path = (issue.path ?? []).map((segment) => {
    const key = typeof segment === "object" && segment !== null ? segment.key : segment;
    return typeof key === "number" ? key : String(key);
  });
  return { message: issue.message, path };
}

// Reading a transform back from a checkpoint's TransformState: wrong names, missing arguments and
// missing buffers are CheckpointErrors naming the transform and the key.

import type { TransformState } from "../data/batch.js";
import { CheckpointError } from "../errors.js";
import type { JsonValue } from "../json.js";

/** Throws unless the state was saved by transform `name`. */
export function checkStateName(state: TransformState, name: string): void {
  if (state.name !== name) {
    throw new CheckpointError(`${name}.fromState: the state is for transform ${JSON.stringify(state.name)}`);
  }
}

export function numberArg(state: TransformState, key: string): number {
  const value: JsonValue | undefined = state.args[key];
  if (typeof value !== "number") {
    throw new CheckpointError(
      `${state.name}: argument ${key} must be a number, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

export function booleanArg(state: TransformState, key: string): boolean {
  const value: JsonValue | undefined = state.args[key];
  if (typeof value !== "boolean") {
    throw new CheckpointError(
      `${state.name}: argument ${key} must be a boolean, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

export function stringsArg(state: TransformState, key: string): string[] {
  const value: JsonValue | undefined = state.args[key];
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    throw new CheckpointError(`${state.name}: argument ${key} must be a list of strings`);
  }
  return value as string[];
}

export function tensorArg(state: TransformState, key: string): Float32Array {
  const value = state.tensors[key];
  if (!(value instanceof Float32Array)) {
    throw new CheckpointError(`${state.name}: buffer ${key} is missing or not float32`);
  }
  return value;
}

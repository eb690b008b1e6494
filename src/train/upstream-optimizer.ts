// The optimizer state of a cellarium-ml run (a `.ckpt`'s optimizer_states: torch's parameter
// indices and option names) as the state of the optimizer that resumes the run here. torch numbers
// the parameters as the module's state dict lists them (each module's parameters, then its
// buffers, then its children: the parameters keep their relative order), so each index is matched
// to the resumed model's parameter of that name, not by position in our parameters() list.

import { CheckpointError } from "../errors.js";
import type { JsonValue } from "../json.js";
import type { CellariumModel } from "../models/model.js";
import type { OptimizerStateDict } from "../optim/optimizer.js";
import { optimizerOptionNames } from "../optim/registry.js";
import type { FloatArray } from "../tensor/kernels/types.js";
import type { UpstreamOptimizerState } from "./checkpoint.js";

/**
 * `upstream` mapped onto `model`'s parameters for the optimizer whose current state is `current`
 * (its rule, groups and learning-rate scales); a CheckpointError naming `path` when the two do not
 * describe the same optimizer over the same parameters.
 */
export function optimizerStateFromUpstream(
  upstream: UpstreamOptimizerState | string,
  model: CellariumModel,
  current: OptimizerStateDict,
  path: string,
): OptimizerStateDict {
  const fail = (message: string): never => {
    throw new CheckpointError(`${path}: ${message}`, { file: path, key: "optimizer_states" });
  };
  if (typeof upstream === "string")
    throw new CheckpointError(upstream, { file: path, key: "optimizer_states" });
  const className = upstream.optimFn.slice(upstream.optimFn.lastIndexOf(".") + 1);
  const optionNames = optimizerOptionNames(className);
  if (optionNames === undefined)
    return fail(`the run's optimizer ${upstream.optimFn} is not one cellarium-ts has`);
  if (className.toLowerCase() !== current.metadata.optimizer)
    return fail(
      `the run was trained with ${upstream.optimFn}, this fit's optimizer is ${current.metadata.optimizer}: resume with the run's optim_fn`,
    );
  const params = model.parameters();
  const state = Object.entries(model.stateDict());
  const names = params.map(
    (param, i) =>
      state.find(([, tensor]) => tensor === param)?.[0] ??
      fail(`${model.className}'s parameter ${i} has no name in its state dict`),
  );
  const torchOrder = upstream.stateOrder.filter((name) => names.includes(name));
  if (torchOrder.length !== names.length) {
    const missing = names.filter((name) => !torchOrder.includes(name));
    return fail(`the state dict lacks ${model.className}'s parameter(s) ${missing.join(", ")}`);
  }
  const ours = (index: number): number => {
    const name = torchOrder[index];
    if (name === undefined)
      return fail(
        `optimizer state of parameter ${index}, but ${model.className} has ${names.length} parameters`,
      );
    return names.indexOf(name);
  };
  if (upstream.groups.length !== current.metadata.groups.length)
    return fail(
      `the run's optimizer has ${upstream.groups.length} param groups, this fit's ${current.metadata.groups.length}`,
    );
  const byIndex = (a: number, b: number) => a - b;
  const groups = current.metadata.groups.map((group, g) => {
    const theirs = upstream.groups[g]!;
    const mapped = theirs.params.map(ours).sort(byIndex);
    if (mapped.join() !== [...group.params].sort(byIndex).join())
      return fail(
        `param group ${g} holds ${theirs.params.map((i) => torchOrder[i]).join(", ")}, this fit's ${group.params.map((i) => names[i]).join(", ")}`,
      );
    if (group.lrScale !== 1)
      return fail(
        `param group ${g} has a learning-rate scale (muP): resuming its torch state is not supported`,
      );
    const options: Record<string, JsonValue> = {};
    for (const [key, value] of Object.entries(theirs.options)) {
      // Options that change the update rule, which ours do not have: refused rather than ignored.
      if ((key === "maximize" || key === "decoupled_weight_decay") && value === true)
        return fail(`param group ${g} has ${key}: true, which cellarium-ts's ${className} does not do`);
      const option = optionNames[key];
      if (option !== undefined) options[option] = value;
    }
    return { ...group, ...options };
  });
  const steps = names.map(() => 0);
  const tensors: Record<string, FloatArray> = {};
  for (const [index, { step, buffers }] of upstream.state) {
    const i = ours(index);
    steps[i] = step;
    const param = params[i]!.data;
    for (const [name, data] of Object.entries(buffers)) {
      tensors[`state.${i}.${name}`] =
        data.constructor === param.constructor
          ? data
          : param instanceof Float32Array
            ? new Float32Array(data)
            : new Float64Array(data);
    }
  }
  return { tensors, metadata: { optimizer: current.metadata.optimizer, steps, groups } };
}

// Parameter initializations, following torch.nn.init. The draws come from the Generator the
// caller passes (ours is Philox, not torch's Mersenne Twister, so the values differ from torch's
// for equal seeds; the distributions are the same).

import { ArgumentError } from "../errors.js";
import type { Generator } from "../tensor/random.js";
import type { FloatArray, Tensor } from "../tensor/tensor.js";

function floatData(t: Tensor, op: string): FloatArray {
  if (t.dtype === "int32") throw new ArgumentError(`${op}: needs a float tensor, got int32`);
  return t.data as FloatArray;
}

/** Fills t in place with draws uniform on [-bound, bound). */
export function uniformInit(t: Tensor, bound: number, generator: Generator): Tensor {
  generator.fillUniform(floatData(t, "uniformInit"), -bound, bound);
  return t;
}

/** Fills t in place with normal draws. */
export function normalInit(t: Tensor, generator: Generator, mean = 0, std = 1): Tensor {
  generator.fillNormal(floatData(t, "normalInit"), mean, std);
  return t;
}

/**
 * torch.nn.init.kaiming_uniform_(t, a, mode="fan_in", nonlinearity="leaky_relu") for a 2-D
 * weight [out, in]: bound = gain * sqrt(3 / fanIn) with gain = sqrt(2 / (1 + a^2)). torch's Linear
 * uses a = sqrt(5), which makes the bound 1 / sqrt(fanIn).
 */
export function kaimingUniformInit(t: Tensor, a: number, generator: Generator): Tensor {
  const fanIn = t.shape[1] ?? 0;
  if (t.ndim !== 2 || fanIn === 0) {
    throw new ArgumentError(
      `kaimingUniformInit: needs a 2-D weight with fanIn > 0, got [${t.shape.join(", ")}]`,
    );
  }
  const gain = Math.sqrt(2 / (1 + a * a));
  return uniformInit(t, gain * Math.sqrt(3 / fanIn), generator);
}

/**
 * torch.nn.init.xavier_normal_(t) for a 2-D weight [out, in]: normal draws with std
 * sqrt(2 / (fanIn + fanOut)).
 */
export function xavierNormalInit(t: Tensor, generator: Generator): Tensor {
  const [fanOut, fanIn] = t.shape as [number, number];
  if (t.ndim !== 2 || fanIn + fanOut === 0) {
    throw new ArgumentError(`xavierNormalInit: needs a 2-D weight, got [${t.shape.join(", ")}]`);
  }
  return normalInit(t, generator, 0, Math.sqrt(2 / (fanIn + fanOut)));
}

// The affine map of torch.nn.functional.linear, y = x W^T + b, as one op: x's leading axes fold
// into the rows of a single gemm (transB reads W in torch's [out, in] layout without a transpose
// copy), and the bias is written into the output first so the gemm adds onto it (beta = 1).

import { ArgumentError } from "../../errors.js";
import { kernels } from "../kernels/index.js";
import { allocate, type FloatArray, formatShape, record, Tensor } from "../tensor.js";

/** y = x W^T + b for x [..., in], weight [out, in], bias [out] or null; y is [..., out]. */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  const inF = weight.shape[1]!;
  const outF = weight.shape[0]!;
  if (
    x.dtype === "int32" ||
    weight.ndim !== 2 ||
    x.ndim === 0 ||
    x.shape[x.ndim - 1] !== inF ||
    weight.dtype !== x.dtype ||
    (bias !== null && (bias.ndim !== 1 || bias.shape[0] !== outF || bias.dtype !== x.dtype))
  ) {
    throw new ArgumentError(
      `linear: x ${x.dtype}${formatShape(x.shape)}, weight ${weight.dtype}${formatShape(weight.shape)} and bias ${bias === null ? "none" : `${bias.dtype}${formatShape(bias.shape)}`} do not fit (x [..., in], weight [out, in], bias [out])`,
    );
  }
  const rows = inF === 0 ? x.size : x.size / inF;
  const xd = x.data as FloatArray;
  const wd = weight.data as FloatArray;
  const y = allocate(x.dtype, rows * outF) as FloatArray;
  if (bias !== null) for (let r = 0; r < rows; r++) y.set(bias.data, r * outF);
  kernels().gemm({
    transA: false,
    transB: true,
    m: rows,
    n: outF,
    k: inF,
    alpha: 1,
    a: xd,
    lda: inF,
    b: wd,
    ldb: inF,
    beta: bias === null ? 0 : 1,
    c: y,
    ldc: outF,
  });
  const inputs = bias === null ? [x, weight] : [x, weight, bias];
  return record("linear", new Tensor(y, [...x.shape.slice(0, -1), outF]), inputs, (g) => {
    const gd = g.data as FloatArray;
    const gemm = kernels().gemm;
    const grads: Array<Tensor | null> = [null, null, null];
    if (x.requiresGrad) {
      // dx = dy W
      const gx = allocate(x.dtype, x.size) as FloatArray;
      gemm({
        transA: false,
        transB: false,
        m: rows,
        n: inF,
        k: outF,
        alpha: 1,
        a: gd,
        lda: outF,
        b: wd,
        ldb: inF,
        beta: 0,
        c: gx,
        ldc: inF,
      });
      grads[0] = new Tensor(gx, x.shape);
    }
    if (weight.requiresGrad) {
      // dW = dy^T x, summed over every row
      const gw = allocate(x.dtype, weight.size) as FloatArray;
      gemm({
        transA: true,
        transB: false,
        m: outF,
        n: inF,
        k: rows,
        alpha: 1,
        a: gd,
        lda: outF,
        b: xd,
        ldb: inF,
        beta: 0,
        c: gw,
        ldc: inF,
      });
      grads[1] = new Tensor(gw, weight.shape);
    }
    if (bias?.requiresGrad) {
      // db = 1^T dy, the column sums, as one more (BLAS-speed) product
      const gb = allocate(x.dtype, outF) as FloatArray;
      const ones = allocate(x.dtype, rows).fill(1) as FloatArray;
      gemm({
        transA: false,
        transB: false,
        m: 1,
        n: outF,
        k: rows,
        alpha: 1,
        a: ones,
        lda: rows,
        b: gd,
        ldb: outF,
        beta: 0,
        c: gb,
        ldc: outF,
      });
      grads[2] = new Tensor(gb, bias.shape);
    }
    return bias === null ? grads.slice(0, 2) : grads;
  });
}

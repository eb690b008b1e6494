// Runs a short numpy script through /usr/bin/python3 (Debian's python3-numpy, installed by
// scripts/setup-system.sh): `inputs` arrive as the JSON object `data`, the script prints JSON.

import { execFileSync } from "node:child_process";

const PRELUDE = `
import json, sys
import numpy as np
data = json.load(sys.stdin)
def flip(u, vt=None):
    # the largest-magnitude entry of each column of u made positive (scikit-learn's svd_flip)
    signs = np.sign(u[np.argmax(np.abs(u), axis=0), range(u.shape[1])])
    return (u * signs, None if vt is None else vt * signs[:, None])
def out(**values):
    print(json.dumps({k: np.asarray(v, dtype=np.float64).tolist() for k, v in values.items()}))
`;

export function numpy(
  script: string,
  inputs: Record<string, unknown>,
): Record<string, number[] & number[][]> {
  const stdout = execFileSync("/usr/bin/python3", ["-c", PRELUDE + script], {
    input: JSON.stringify(inputs),
    encoding: "utf8",
  });
  return JSON.parse(stdout);
}

/** A row-major typed array as nested rows, for the JSON sent to numpy. */
export function rows(data: ArrayLike<number>, cols: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < data.length; i += cols) out.push(Array.from({ length: cols }, (_, j) => data[i + j]!));
  return out;
}

import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgumentError } from "../../../src/errors.js";
import { formatMeanVarStdCsv, pythonFloat } from "../../../src/models/streaming/mean-var-std-csv.js";
import { Generator } from "../../../src/tensor/random.js";
import { runPython } from "../../helpers/python.js";

const text = (x: number): string => (Object.is(x, -0) ? "-0" : String(x));

test("pythonFloat writes every double as Python's repr does", () => {
  const rng = new Generator(21);
  const values = [
    0,
    -0,
    1,
    -1,
    0.1,
    1 / 3,
    100,
    1e15,
    1e16,
    1.5e16,
    123456789012345680,
    1e-4,
    1e-5,
    0.00012345,
    9.999e-5,
    5e-324,
    Number.MAX_VALUE,
    2 ** 53,
    1e22,
    1e21,
    1e-7,
    123.456,
    -2.5e-8,
  ];
  for (let i = 0; i < 300; i++) {
    const magnitude = 10 ** rng.randint(-30, 31);
    values.push((rng.nextDouble() - 0.5) * magnitude, Math.round(rng.nextDouble() * 1e6) * magnitude);
  }
  // As text: JSON would turn 1e20 into a Python int and lose the sign of -0.
  const expected = runPython(
    "import json, sys\nprint(json.dumps([repr(float(x)) for x in json.load(sys.stdin)]))",
    values.map(text),
  );
  assert.deepEqual(values.map(pythonFloat), expected);
});

test("formatMeanVarStdCsv writes what pandas' to_csv(index=False) writes for upstream's DataFrame", () => {
  const var_names_g = ["ACTB", "gene,with,commas", 'say "hi"', "two\nlines", " padded ", "", "MT-CO1"];
  const mean_g = [0.1, 1e-5, 2.5e16, Number.NaN, 3, 1 / 3, 0];
  const var_g = [Number.POSITIVE_INFINITY, 123456789.125, 0, Number.NaN, -0, 2 / 3, 1e-300];
  const std_g = var_g.map(Math.sqrt);
  const expected = runPython(
    "import json, sys, pandas as pd, numpy as np\n" +
      "d = json.load(sys.stdin)\n" +
      "f = lambda k: np.array([float(v) for v in d[k]], dtype=np.float64)\n" +
      "df = pd.DataFrame({'var_names_g': d['names'], 'mean_g': f('mean'), 'var_g': f('var'), 'std_g': f('std')})\n" +
      "print(json.dumps(df.to_csv(index=False)))",
    // JSON has no NaN or infinity: send them as strings Python's float() reads ("-0" for -0).
    { names: var_names_g, mean: mean_g.map(text), var: var_g.map(text), std: std_g.map(text) },
  );
  assert.equal(formatMeanVarStdCsv(var_names_g, mean_g, var_g, std_g), expected);
});

test("formatMeanVarStdCsv quotes a carriage return and checks the lengths", () => {
  assert.equal(
    formatMeanVarStdCsv(["a\rb"], [1], [2], [3]),
    'var_names_g,mean_g,var_g,std_g\n"a\rb",1.0,2.0,3.0\n',
  );
  assert.throws(
    () => formatMeanVarStdCsv(["a", "b"], [1], [2, 3], [4, 5]),
    (e: unknown) =>
      e instanceof ArgumentError && /2 names but mean_g, var_g, std_g have 1, 2, 2/.test(e.message),
  );
});

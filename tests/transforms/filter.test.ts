import assert from "node:assert/strict";
import { test } from "node:test";
import type { CsrMatrix } from "../../src/data/matrix.js";
import { ArgumentError, SchemaMismatchError } from "../../src/errors.js";
import { Generator } from "../../src/tensor/random.js";
import { Filter, filterColumns, selectColumns } from "../../src/transforms/filter.js";
import { assertCanonical, csr, dense, randomCounts, rowsOf, snapshot } from "./helpers.js";

const var_names_g = ["A", "B", "C", "D"];
const rows = [
  [1, 2, 0, 4],
  [0, 0, 3, 0],
  [5, 0, 6, 7],
];
/** Column `name` of `rows` (zeros for a name not in var_names_g). */
const column = (name: string) =>
  rows.map((row) => (var_names_g.includes(name) ? row[var_names_g.indexOf(name)]! : 0));
const columnsOf = (names: string[]) => rows.map((_, i) => names.map((name) => column(name)[i]!));

test("Filter with ordering follows filter_list's order, CSR and dense alike", () => {
  const filter = new Filter({ filter_list: ["D", "A", "C"] });
  for (const x_ng of [csr(rows), dense(rows)]) {
    const out = filter.forward({ x_ng, var_names_g });
    assert.deepEqual(out.var_names_g, ["D", "A", "C"]);
    assert.equal(out.x_ng!.format, x_ng.format);
    assert.deepEqual(rowsOf(out.x_ng!), columnsOf(["D", "A", "C"]));
    if (out.x_ng!.format === "csr") assertCanonical(out.x_ng as CsrMatrix);
  }
});

test("Filter without ordering keeps the input's gene order", () => {
  const filter = new Filter({ filter_list: ["D", "A", "Z"], ordering: false });
  for (const x_ng of [csr(rows), dense(rows)]) {
    const out = filter.forward({ x_ng, var_names_g });
    assert.deepEqual(out.var_names_g, ["A", "D"]);
    assert.deepEqual(rowsOf(out.x_ng!), columnsOf(["A", "D"]));
  }
});

test("Filter with allow_missing zero-fills absent genes and keeps CSR sparse", () => {
  const filter = new Filter({ filter_list: ["C", "Z", "A"], allow_missing: true });
  for (const x_ng of [csr(rows), dense(rows)]) {
    const out = filter.forward({ x_ng, var_names_g });
    assert.deepEqual(out.var_names_g, ["C", "Z", "A"]);
    assert.equal(out.x_ng!.format, x_ng.format);
    assert.deepEqual(rowsOf(out.x_ng!), columnsOf(["C", "Z", "A"]));
  }
});

test("Filter errors name the gene, and bad arguments are refused", () => {
  assert.throws(
    () => new Filter({ filter_list: ["A", "Z", "Y"] }).forward({ x_ng: dense(rows), var_names_g }),
    (e: unknown) =>
      e instanceof SchemaMismatchError &&
      /filter_list\[1\] = "Z" is not in the batch's var_names_g \(2 missing/.test(e.message),
  );
  for (const options of [
    { filter_list: ["Z"] },
    { filter_list: ["Z"], ordering: false },
    { filter_list: ["Z"], allow_missing: true },
  ]) {
    assert.throws(() => new Filter(options).forward({ x_ng: dense(rows), var_names_g }), SchemaMismatchError);
  }
  assert.throws(() => new Filter({ filter_list: [] }), ArgumentError);
  assert.throws(
    () => new Filter({ filter_list: ["A"], ordering: false, allow_missing: true }),
    ArgumentError,
  );
  assert.throws(() => new Filter({ filter_list: ["A", "B", "A"] }), /filter_list\[2\] = "A" is a duplicate/);
  assert.throws(
    () => new Filter({ filter_list: ["A"] }).forward({ x_ng: dense(rows), var_names_g: ["A"] }),
    SchemaMismatchError,
  );
});

test("filterColumns on random CSR equals gathering the dense columns, with canonical rows", () => {
  const rng = new Generator(11);
  const nGenes = 30;
  const names = Array.from({ length: nGenes }, (_, g) => `g${g}`);
  const counts = randomCounts(12, 8, nGenes, 0.4);
  for (let trial = 0; trial < 20; trial++) {
    const order = rng.permutation(nGenes);
    const keep = [...order.subarray(0, 1 + rng.randint(0, nGenes))].map((g) => names[g]!);
    for (const ordering of [true, false]) {
      const selection = selectColumns(names, keep, ordering, false);
      const kept = ordering ? keep : names.filter((name) => keep.includes(name));
      assert.deepEqual(selection.var_names_g, kept);
      const expected = counts.map((row) => kept.map((name) => row[names.indexOf(name)]!));
      const out = filterColumns(csr(counts), selection) as CsrMatrix;
      assertCanonical(out);
      assert.deepEqual(rowsOf(out), expected);
      assert.deepEqual(rowsOf(filterColumns(dense(counts), selection)), expected);
    }
  }
});

test("Filter leaves its input untouched, recomputes for new genes, and round-trips its state", () => {
  const x = csr(rows);
  const before = snapshot(x);
  const filter = new Filter({ filter_list: ["C", "A"] });
  filter.forward({ x_ng: x, var_names_g });
  assert.deepEqual(x, before);
  assert.deepEqual(var_names_g, ["A", "B", "C", "D"]);
  // Same genes in another order: the cached selection must not be reused.
  const swapped = filter.forward({ x_ng: dense([[1, 2, 3, 4]]), var_names_g: ["C", "B", "A", "D"] });
  assert.deepEqual(rowsOf(swapped.x_ng!), [[1, 3]]);
  const state = JSON.parse(JSON.stringify(filter.state()));
  assert.deepEqual(state.args, { filter_list: ["C", "A"], ordering: true, allow_missing: false });
  assert.deepEqual(
    Filter.fromState(state).forward({ x_ng: x, var_names_g }),
    filter.forward({ x_ng: x, var_names_g }),
  );
});

// `cellarium report` on an AnnData of predictions (.h5ad and .zarr written as predict writes them):
// the embedding scatter (first two components, or a UMAP for a latent) coloured by an obs column, the
// confusion matrix of obs <label>_pred against obs <label>, counted here independently; and the
// report predict writes beside an .h5ad output.

import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { modelByCommand } from "../../src/cli/registry.js";
import { reportCommand } from "../../src/cli/report.js";
import { runModelCommand } from "../../src/cli/run.js";
import { AnnDataFile } from "../../src/formats/h5ad/reader.js";
import { H5adRowWriter } from "../../src/formats/h5ad/row-writer.js";
import { ZarrRowWriter } from "../../src/formats/zarr/row-writer.js";
import { assertOneLine, cli, cliStdout } from "../helpers/cli-capture.js";
import { exampleConfig, runCommand } from "../helpers/examples.js";
import { CLASSES, COLUMNS, N, predictions, TYPES, writePredictions } from "../helpers/predictions.js";
import { figureSvgs, pointLabels } from "../helpers/svg.js";
import { tempDir } from "../helpers/temp.js";

/** The confusion-matrix cells of a report, as "true|predicted" -> count. */
function plottedCounts(svg: string): Map<string, number> {
  return new Map(
    pointLabels(svg).map((p) => [`${p["true label"]}|${p["predicted label"]}`, Number(p.cells)]),
  );
}

test("report of predictions .h5ad and .zarr: embedding scatter and confusion matrix", async () => {
  const dir = tempDir("report-predictions-");
  const p = predictions();
  const h5ad = join(dir, "preds.h5ad");
  const zarr = join(dir, "preds.zarr");
  await writePredictions(await H5adRowWriter.create(h5ad, COLUMNS), p);
  await writePredictions(await ZarrRowWriter.create(zarr, COLUMNS), p);

  // Counted here: each cell's true type name against its predicted class name.
  const expected = new Map<string, number>();
  p.truth.forEach((t, i) => {
    const key = `${TYPES[t]}|${CLASSES[p.predicted[i]!]}`;
    expected.set(key, (expected.get(key) ?? 0) + 1);
  });

  for (const file of [h5ad, zarr]) {
    const lines: string[] = [];
    const result = await reportCommand(file, {
      color: "cell_type",
      embedding: "X_scvi",
      log: (l) => lines.push(l),
    });
    const out = file.replace(/\.(h5ad|zarr)$/, "_report");
    assert.equal(result.html, join(out, "report.html"));
    assert.deepEqual(result.charts, ["embedding", "confusion-matrix"]);
    assert.deepEqual((await readdir(out)).sort(), ["confusion-matrix.png", "embedding.png", "report.html"]);
    const svgs = figureSvgs(await readFile(result.html, "utf8"));

    // X_scvi (6 columns) defaults to a UMAP; every cell plotted (240 < 20,000), coloured by type.
    const points = pointLabels(svgs.get("embedding")!);
    assert.equal(points.length, N, file);
    assert.match(svgs.get("embedding")!, /UMAP of X_scvi/);
    const byType = new Map(TYPES.map((t) => [t, points.filter((q) => q.cell_type === t)]));
    for (const type of TYPES) assert.equal(byType.get(type)!.length, N / 3, `${file}: ${type}`);
    // The three types, 30 apart in X_scvi, occupy disjoint boxes of the UMAP plane.
    const box = (type: string) => {
      const xs = byType.get(type)!.map((q) => Number(q["UMAP 1"]!.replace("\u2212", "-")));
      const ys = byType.get(type)!.map((q) => Number(q["UMAP 2"]!.replace("\u2212", "-")));
      return [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)] as const;
    };
    for (const [i, a] of TYPES.entries())
      for (const b of TYPES.slice(i + 1)) {
        const [ax0, ax1, ay0, ay1] = box(a);
        const [bx0, bx1, by0, by1] = box(b);
        assert.ok(ax1 < bx0 || bx1 < ax0 || ay1 < by0 || by1 < ay0, `${file}: ${a} and ${b} overlap`);
      }

    // Every (true, predicted) pair of the classes and the types, counts as counted above.
    const counts = plottedCounts(svgs.get("confusion-matrix")!);
    assert.equal(counts.size, CLASSES.length * CLASSES.length);
    for (const [key, count] of counts) assert.equal(count, expected.get(key) ?? 0, `${file}: ${key}`);
    const correct = p.truth.filter((t, i) => TYPES[t] === CLASSES[p.predicted[i]!]).length;
    assert.match(await readFile(result.html, "utf8"), new RegExp(`${correct} of ${N} correct`));
  }

  // X_pca defaults to its first two components, the points being obsm's own values.
  const pca = await reportCommand(h5ad, {
    embedding: "X_pca",
    // A column name with a dot, which Vega-Lite would read as a nested field.
    color: "n.genes",
    out: join(dir, "pca"),
    png: false,
    log: () => {},
  });
  const pcaPoints = pointLabels(figureSvgs(await readFile(pca.html, "utf8")).get("embedding")!);
  assert.equal(pcaPoints.length, N);
  pcaPoints.forEach((q, i) => {
    assert.equal(Number(q["X_pca 1"]), p.pca[i * 3]);
    assert.equal(Number(q["X_pca 2"]), p.pca[i * 3 + 1]);
    assert.equal(Number(q["n.genes"]), i);
  });
});

test("report of predictions on the command line: --umap / --no-umap override the default; --seed repeats or changes the UMAP", async () => {
  const dir = tempDir("report-predictions-flags-");
  const h5ad = join(dir, "preds.h5ad");
  await writePredictions(await H5adRowWriter.create(h5ad, COLUMNS), predictions());
  const embedding = async (out: string, flags: string[]) => {
    const stdout = cliStdout(["report", h5ad, "--out", join(dir, out), "--no-png", ...flags]);
    assert.equal(stdout, `wrote ${join(dir, out, "report.html")} (2 plot(s))\n`);
    return figureSvgs(await readFile(join(dir, out, "report.html"), "utf8")).get("embedding")!;
  };
  assert.match(await embedding("pca-umap", ["--embedding", "X_pca", "--umap"]), /UMAP of X_pca/);
  const components = await embedding("scvi-components", ["--embedding", "X_scvi", "--no-umap"]);
  assert.match(components, /X_scvi: first two components/);
  // The first column's values, to the 12 significant digits of Vega's labels.
  const scvi = predictions().scvi;
  for (const [i, q] of pointLabels(components).entries())
    assert.ok(Math.abs(Number(q["X_scvi 1"]) - scvi[i * 6]!) <= 1e-10 * Math.abs(scvi[i * 6]!), `cell ${i}`);
  const coordinates = (svg: string) => pointLabels(svg).map((q) => [q["UMAP 1"], q["UMAP 2"]]);
  const seed3 = coordinates(await embedding("seed3", ["--embedding", "X_scvi", "--seed", "3"]));
  assert.deepEqual(
    coordinates(await embedding("seed3-again", ["--embedding", "X_scvi", "--seed", "3"])),
    seed3,
  );
  assert.notDeepEqual(coordinates(await embedding("seed4", ["--embedding", "X_scvi", "--seed", "4"])), seed3);
});

test("report of predictions: an unknown --color or --embedding is one line naming the file and the key", async () => {
  const dir = tempDir("report-predictions-errors-");
  const h5ad = join(dir, "preds.h5ad");
  await writePredictions(await H5adRowWriter.create(h5ad, COLUMNS), predictions());
  assertOneLine(
    await cli(["report", h5ad, "--color", "tissue"]),
    /^cellarium: .*preds\.h5ad: no obs column 'tissue' \(--color\); obs has: cell_type, n\.genes, cell_type_pred$/,
  );
  assertOneLine(
    await cli(["report", h5ad, "--embedding", "X_umap"]),
    /^cellarium: .*preds\.h5ad: no obsm embedding 'X_umap' \(--embedding\); obsm has: X_pca, X_scvi$/,
  );
});

test("logistic_regression: fit's report has the validation confusion matrix; predict to an .h5ad writes a report beside it", async () => {
  const dir = tempDir("report-predict-lr-");
  await runCommand("onepass_mean_var_std", "fit", await exampleConfig("onepass_train_config.yaml", dir));
  const config = await exampleConfig("lr_train_config.yaml", dir);
  const small: [string, unknown][] = [
    ["trainer.max_epochs", 1],
    ["data.batch_size", 400],
    ["trainer.enable_progress_bar", false],
  ];
  const run = (stage: "fit" | "predict", overrides: [string, unknown][]) =>
    runModelCommand(modelByCommand("logistic_regression")!, stage, {
      configs: [config],
      overrides: [...small, ...overrides] as never,
      report: true,
      log: () => {},
    });
  await run("fit", []);
  const output = join(dir, "lr-preds.h5ad");
  await run("predict", [
    ["ckpt_path", join(dir, "lr/checkpoints/lr.safetensors")],
    ["trainer.callbacks.1.init_args.output_dir", output],
  ]);

  // Counted here from the predictions file: the validation split is the last 400 of the 2,000 cells.
  const file = await AnnDataFile.open(output);
  const label = (name: string) => {
    const column = file.obs.column(name);
    assert.equal(column.kind, "categorical");
    return Array.from(column.codes, (code) => String(column.categories[code]));
  };
  const truth = label("cell_type");
  const predicted = label("cell_type_pred");
  file.close();
  const count = (from: number) => {
    const counts = new Map<string, number>();
    for (let i = from; i < truth.length; i++) {
      const key = `${truth[i]}|${predicted[i]}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return counts;
  };
  const check = (plotted: Map<string, number>, expected: Map<string, number>, what: string) => {
    assert.equal(plotted.size, 25, what);
    for (const [key, n] of plotted) assert.equal(n, expected.get(key) ?? 0, `${what}: ${key}`);
  };

  const fitReport = join(dir, "lr/lightning_logs/version_0/report.html");
  const fitSvgs = figureSvgs(await readFile(fitReport, "utf8"));
  assert.ok(fitSvgs.has("confusion-matrix"), [...fitSvgs.keys()].join(", "));
  check(plottedCounts(fitSvgs.get("confusion-matrix")!), count(1600), "validation split");
  assert.match(await readFile(fitReport, "utf8"), /on the validation split: \d+ of 400 correct/);

  // predict's report: every cell of the file.
  const predictSvgs = figureSvgs(await readFile(join(dir, "lr-preds_report/report.html"), "utf8"));
  assert.deepEqual([...predictSvgs.keys()], ["confusion-matrix"]);
  assert.match(
    await readFile(join(dir, "lr-preds_report/report.html"), "utf8"),
    /obsm has no X_\* embedding \(cell_type_probabilities\): no embedding scatter/,
  );
  check(plottedCounts(predictSvgs.get("confusion-matrix")!), count(0), "predicted cells");
});

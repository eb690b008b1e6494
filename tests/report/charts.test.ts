import assert from "node:assert/strict";
import { test } from "node:test";
import { FileFormatError } from "../../src/errors.js";
import { MAX_POINT_MARKS, reportCharts } from "../../src/report/charts.js";
import { parseMetricsCsv, type ReportData } from "../../src/report/data.js";
import { reportHtml } from "../../src/report/page.js";
import { chartSvg } from "../../src/report/render.js";
import { pointLabels } from "../helpers/svg.js";

const base = { title: "run", sources: {}, model: null } as const;

test("metrics.csv: empty cells are missing values; a bad cell or row names the file and line", () => {
  const table = parseMetricsCsv("epoch,step,train_loss,val_loss\n0,1,2.5,\n0,1,,3\n", "m.csv");
  assert.deepEqual(table.columns, ["epoch", "step", "train_loss", "val_loss"]);
  assert.deepEqual(table.rows, [
    { epoch: 0, step: 1, train_loss: 2.5 },
    { epoch: 0, step: 1, val_loss: 3 },
  ]);
  assert.deepEqual(parseMetricsCsv("", "m.csv"), { columns: [], rows: [] });
  assert.throws(
    () => parseMetricsCsv("step,lr\n1,abc\n", "m.csv"),
    (e: unknown) => e instanceof FileFormatError && /m\.csv: line 2, column lr: "abc"/.test(e.message),
  );
  assert.throws(() => parseMetricsCsv("step\n1,2\n", "m.csv"), /m\.csv: line 2 has 2 cells/);
});

test("loss chart: one point per train_loss and val_loss value, at its step, in two series", async () => {
  const metrics = parseMetricsCsv(
    "epoch,step,cells,elapsed_s,cells_per_s,train_loss,lr,val_loss,val_elbo\n" +
      "0,1,10,1,10,5,0.1,,\n0,2,20,2,10,4,0.05,,\n0,2,,2.5,,,,4.5,7\n0,3,30,3,10,3,0.025,,\n",
    "m.csv",
  );
  const { charts, notes } = reportCharts({ ...base, metrics });
  assert.deepEqual(
    charts.map((c) => c.id),
    ["loss", "learning-rate", "cells-per-second", "metric-val_elbo"],
  );
  assert.deepEqual(notes, []);
  const points = pointLabels(await chartSvg(charts[0]!));
  assert.deepEqual(
    points.map((p) => [p.series, Number(p.step), Number(p.loss)]),
    [
      ["train_loss", 1, 5],
      ["train_loss", 2, 4],
      ["val_loss", 2, 4.5],
      ["train_loss", 3, 3],
    ],
  );
  const lr = pointLabels(await chartSvg(charts[1]!));
  assert.deepEqual(
    lr.map((p) => Number(p["learning rate"])),
    [0.1, 0.05, 0.025],
  );
});

test("a long series is drawn as a line without a symbol per point", async () => {
  const n = MAX_POINT_MARKS + 1;
  const rows = Array.from({ length: n }, (_, i) => `${i + 1},${1 / (i + 1)}`).join("\n");
  const { charts } = reportCharts({ ...base, metrics: parseMetricsCsv(`step,train_loss\n${rows}\n`, "m") });
  const svg = await chartSvg(charts[0]!);
  assert.equal(pointLabels(svg).length, 0);
  assert.match(svg, /class="mark-line role-mark/);
  assert.match(charts[0]!.description, /2001 train_loss value\(s\).*lines only/);
});

test("no rows, no metrics.csv, no model: no charts, and the page says there is nothing to plot", () => {
  const empty = reportCharts({ ...base, metrics: parseMetricsCsv("epoch,step,train_loss\n", "m") });
  assert.deepEqual(empty.charts, []);
  assert.deepEqual(empty.notes, [
    "metrics.csv has a header and no rows: no training curves to plot.",
    "Nothing to plot.",
  ]);
  const none = reportCharts({ ...base, metrics: null });
  assert.deepEqual(none.notes, [
    "The run has no metrics.csv: no training curves to plot.",
    "Nothing to plot.",
  ]);
  const html = reportHtml({ ...base, metrics: null }, [], none.notes);
  assert.match(html, /<li>Nothing to plot\.<\/li>/);
  assert.doesNotMatch(html, /<svg/);
});

test("PCA: explained variance bars and the cumulative ratio of the total variance (or of the top k)", async () => {
  const data: ReportData = {
    ...base,
    metrics: null,
    pca: { explained_variance_k: [4, 2, 1], total_variance: 10 },
  };
  const { charts } = reportCharts(data);
  assert.deepEqual(
    charts.map((c) => c.id),
    ["pca-explained-variance", "pca-cumulative-ratio"],
  );
  const bars = pointLabels(await chartSvg(charts[0]!));
  assert.deepEqual(
    bars.map((p) => Number(p["explained variance"])),
    [4, 2, 1],
  );
  const ratio = pointLabels(await chartSvg(charts[1]!));
  assert.deepEqual(
    ratio.map((p) => Number(p["cumulative ratio"])),
    [0.4, 0.6, 0.7],
  );
  const lowrank = reportCharts({ ...data, pca: { explained_variance_k: [3, 1], total_variance: null } });
  assert.deepEqual(
    pointLabels(await chartSvg(lowrank.charts[1]!)).map((p) => Number(p["cumulative ratio"])),
    [0.75, 1],
  );
  assert.match(lowrank.charts[1]!.description, /top components/);
});

test("HVG: log10 mean against log10 variance, the selected genes highlighted, zero-variance genes left out", async () => {
  const { charts } = reportCharts({
    ...base,
    metrics: null,
    hvg: {
      var_names_g: ["a", "b", "c", "d"],
      means: [1, 10, 0, 100],
      variances: [10, 1000, 0, 100],
      highly_variable: [false, true, false, false],
    },
  });
  assert.equal(charts.length, 1);
  assert.match(charts[0]!.description, /3 genes, the 1 highly variable ones highlighted; 1 gene/);
  const svg = await chartSvg(charts[0]!);
  const points = pointLabels(svg);
  assert.deepEqual(
    points.map((p) => [p.gene, Number(p["log10 mean"].replace("−", "-")), p.selected]),
    [
      ["a", 0, "other"],
      ["d", 2, "other"],
      ["b", 1, "selected"],
    ],
  );
  // The selected gene is drawn in the highlight colour.
  assert.match(
    svg,
    /aria-label="[^"]*gene: b"[^>]*fill="#d62728"|fill="#d62728"[^>]*aria-label="[^"]*gene: b"/,
  );
});

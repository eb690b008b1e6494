// The plots of a run report as Vega-Lite specs, built from ReportData alone (no files, no rendering):
// training and validation loss, learning rate and cells/s against step from metrics.csv, each of a
// model's own validation metrics (Geneformer's MLM accuracy among them), IncrementalPCA's and
// ProbabilisticPCA's explained variance and cumulative ratio, HVGSeuratV3's mean-variance plot,
// TDigest's median histogram, an embedding scatter and a classifier's confusion matrix. render.ts
// turns a spec into SVG and PNG.

import type { TopLevelSpec } from "vega-lite";
import { METRIC_COLUMNS } from "../train/metrics.js";
import type {
  ConfusionData,
  EmbeddingData,
  HvgData,
  MediansData,
  MetricsTable,
  PcaData,
  ReportData,
} from "./data.js";

export interface Chart {
  /** File-name stem of the chart's PNG and the id of its figure in report.html. */
  readonly id: string;
  readonly title: string;
  /** One sentence under the plot: what is drawn, and what was left out. */
  readonly description: string;
  readonly spec: TopLevelSpec;
}

/** The charts a run's data allow, and a line for each thing the report could not plot. */
export interface ChartPlan {
  readonly charts: readonly Chart[];
  readonly notes: readonly string[];
}

/**
 * Above this many points a series is drawn as a line only: a symbol per point would make the SVG
 * (and report.html) megabytes long for a run logged every step.
 */
export const MAX_POINT_MARKS = 2000;

/** The columns metrics.csv always has; the rest are a model's own. */
const COMMON_COLUMNS = new Set<string>(METRIC_COLUMNS);

const WIDTH = 520;
const HEIGHT = 260;
const BASE = {
  $schema: "https://vega.github.io/schema/vega-lite/v6.json",
  width: WIDTH,
  height: HEIGHT,
  background: "white",
  config: { font: "sans-serif", axis: { labelFontSize: 11, titleFontSize: 12 } },
} as const;

interface Series {
  /** The metrics.csv column, also the series' name in the legend. */
  readonly column: string;
}

/** Points {step, value, series} of the columns' non-empty values, in step order. */
function seriesPoints(
  metrics: MetricsTable,
  series: readonly Series[],
): { step: number; value: number; series: string }[] {
  const points: { step: number; value: number; series: string }[] = [];
  for (const { column } of series) {
    for (const row of metrics.rows) {
      const value = row[column];
      const step = row.step;
      if (value === undefined || step === undefined || !Number.isFinite(value)) continue;
      points.push({ step, value, series: column });
    }
  }
  return points.sort((a, b) => a.step - b.step);
}

function seriesChart(
  id: string,
  title: string,
  yTitle: string,
  metrics: MetricsTable,
  series: readonly Series[],
): Chart | null {
  const values = seriesPoints(metrics, series);
  if (values.length === 0) return null;
  const present = series.map((s) => s.column).filter((c) => values.some((p) => p.series === c));
  const color = {
    field: "series",
    type: "nominal",
    title: null,
    scale: { domain: present },
    ...(present.length === 1 && { legend: null }),
  } as const;
  const x = { field: "step", type: "quantitative", title: "step" } as const;
  const y = { field: "value", type: "quantitative", title: yTitle, scale: { zero: false } } as const;
  const points = values.length <= MAX_POINT_MARKS;
  const counts = present.map((c) => `${values.filter((p) => p.series === c).length} ${c}`).join(", ");
  return {
    id,
    title,
    description: `${counts} value(s) from metrics.csv against the global step${points ? "" : " (drawn as lines only)"}.`,
    spec: {
      ...BASE,
      title,
      data: { values },
      layer: [
        { mark: { type: "line", aria: false }, encoding: { x, y, color } },
        ...(points
          ? [{ mark: { type: "point", filled: true, size: 24 }, encoding: { x, y, color } } as const]
          : []),
      ],
    } as TopLevelSpec,
  };
}

function metricsCharts(metrics: MetricsTable): ChartPlan {
  if (metrics.rows.length === 0)
    return { charts: [], notes: ["metrics.csv has a header and no rows: no training curves to plot."] };
  const charts = [
    seriesChart("loss", "Training and validation loss", "loss", metrics, [
      { column: "train_loss" },
      { column: "val_loss" },
    ]),
    seriesChart("learning-rate", "Learning rate", "learning rate", metrics, [{ column: "lr" }]),
    seriesChart("cells-per-second", "Throughput", "cells/s", metrics, [{ column: "cells_per_s" }]),
    ...metrics.columns
      .filter((c) => !COMMON_COLUMNS.has(c))
      .map((c) => seriesChart(`metric-${c}`, `Validation metric ${c}`, c, metrics, [{ column: c }])),
  ].filter((c) => c !== null);
  const notes = [];
  if (!metrics.rows.some((r) => r.train_loss !== undefined || r.val_loss !== undefined))
    notes.push("metrics.csv has no train_loss or val_loss: the model has no loss (it gathers statistics).");
  return { charts, notes };
}

function pcaCharts(pca: PcaData): Chart[] {
  const k = pca.explained_variance_k.length;
  if (k === 0) return [];
  const total = pca.total_variance ?? pca.explained_variance_k.reduce((a, b) => a + b, 0);
  let sum = 0;
  const values = pca.explained_variance_k.map((v, i) => {
    sum += v;
    return { component: i + 1, explained_variance: v, cumulative_ratio: sum / total };
  });
  const of =
    pca.total_variance === null
      ? "the variance of the top components (the lowrank algorithm does not keep the data's total variance)"
      : (pca.names?.total ?? "the data's total variance");
  const x = {
    field: "component",
    type: "ordinal",
    title: "principal component",
    axis: { labelAngle: 0 },
  } as const;
  const ratio = {
    field: "cumulative_ratio",
    type: "quantitative",
    title: "cumulative ratio",
    scale: { domain: [0, 1] as number[] },
  } as const;
  return [
    {
      id: "pca-explained-variance",
      title: "Explained variance per component",
      description: `${pca.names?.variance ?? "explained_variance_k"} of the ${k} components.`,
      spec: {
        ...BASE,
        title: "Explained variance per component",
        data: { values },
        mark: { type: "bar" },
        encoding: {
          x,
          y: { field: "explained_variance", type: "quantitative", title: "explained variance" },
        },
      } as TopLevelSpec,
    },
    {
      id: "pca-cumulative-ratio",
      title: "Cumulative explained variance ratio",
      description: `Cumulative sum of ${pca.names?.variance ?? "explained_variance_k"} as a fraction of ${of}.`,
      spec: {
        ...BASE,
        title: "Cumulative explained variance ratio",
        data: { values },
        layer: [
          { mark: { type: "line", aria: false }, encoding: { x, y: ratio } },
          { mark: { type: "point", filled: true, size: 30 }, encoding: { x, y: ratio } },
        ],
      } as TopLevelSpec,
    },
  ];
}

function hvgChart(hvg: HvgData): Chart | null {
  const values: { gene: string; log10_mean: number; log10_variance: number; selected: string }[] = [];
  let dropped = 0;
  hvg.var_names_g.forEach((gene, g) => {
    const mean = hvg.means[g]!;
    const variance = hvg.variances[g]!;
    if (!(mean > 0 && variance > 0)) {
      dropped++;
      return;
    }
    const selected = hvg.highly_variable[g] ? "selected" : "other";
    values.push({ gene, log10_mean: Math.log10(mean), log10_variance: Math.log10(variance), selected });
  });
  if (values.length === 0) return null;
  // The selected genes last, so that they are drawn on top.
  values.sort((a, b) => Number(a.selected === "selected") - Number(b.selected === "selected"));
  const nSelected = values.filter((v) => v.selected === "selected").length;
  return {
    id: "hvg-mean-variance",
    title: "Mean and variance per gene",
    description:
      `${values.length} genes, the ${nSelected} highly variable ones highlighted` +
      (dropped > 0 ? `; ${dropped} gene(s) with a zero mean or variance left out (no logarithm).` : "."),
    spec: {
      ...BASE,
      title: "Mean and variance per gene",
      data: { values },
      // One point per gene: above MAX_POINT_MARKS, per-point aria labels would make the SVG (and
      // its parse, raster and garbage) megabytes long, as for the embedding.
      mark: { type: "point", filled: true, size: 14, opacity: 0.8, aria: values.length <= MAX_POINT_MARKS },
      encoding: {
        x: { field: "log10_mean", type: "quantitative", title: "log10 mean", scale: { zero: false } },
        y: { field: "log10_variance", type: "quantitative", title: "log10 variance", scale: { zero: false } },
        color: {
          field: "selected",
          type: "nominal",
          title: null,
          scale: { domain: ["other", "selected"], range: ["#9e9e9e", "#d62728"] },
        },
        tooltip: [{ field: "gene" }],
      },
    } as TopLevelSpec,
  };
}

function embeddingChart(embedding: EmbeddingData): Chart {
  const { key, method, x, y, color } = embedding;
  const n = x.length;
  const values = Array.from({ length: n }, (_, i) => ({
    x: x[i]!,
    y: y[i]!,
    ...(color && { color: color.values[i] ?? null }),
  }));
  const [xTitle, yTitle] = method === "umap" ? ["UMAP 1", "UMAP 2"] : [`${key} 1`, `${key} 2`];
  const title = method === "umap" ? `UMAP of ${key}` : `${key}: first two components`;
  const sample =
    n < embedding.totalCells
      ? `a sample of ${n} of the ${embedding.totalCells} cells (seed ${embedding.seed})`
      : `all ${n} cells`;
  const colored = color ? `, coloured by obs["${color.column}"]` : "";
  return {
    id: "embedding",
    title,
    description:
      (method === "umap" ? `A 2-D UMAP of obsm["${key}"] over ${sample}` : `obsm["${key}"] of ${sample}`) +
      `${colored}.`,
    spec: {
      ...BASE,
      width: HEIGHT * 2,
      height: HEIGHT * 2,
      title,
      data: { values },
      // Above MAX_POINT_MARKS points the per-point aria labels would make the SVG megabytes long.
      mark: { type: "circle", size: n > MAX_POINT_MARKS ? 6 : 16, opacity: 0.7, aria: n <= MAX_POINT_MARKS },
      encoding: {
        x: { field: "x", type: "quantitative", title: xTitle, scale: { zero: false } },
        y: { field: "y", type: "quantitative", title: yTitle, scale: { zero: false } },
        ...(color && {
          // A fixed field name: Vega-Lite reads dots and brackets in a field as nested access
          // (obs columns such as "cell.type"); the column's own name is the legend's title.
          color: {
            field: "color",
            title: color.column,
            type: color.type,
            ...(color.type === "nominal" && { scale: { scheme: "tableau20" } }),
          },
        }),
      },
    } as TopLevelSpec,
  };
}

function confusionChart(confusion: ConfusionData): Chart {
  const { categories, counts } = confusion;
  const values = counts.flatMap((row, t) =>
    row.map((count, p) => ({ true: categories[t]!, predicted: categories[p]!, cells: count })),
  );
  const total = values.reduce((sum, v) => sum + v.cells, 0);
  const correct = counts.reduce((sum, row, t) => sum + row[t]!, 0);
  const axis = (field: string, title: string) =>
    ({ field, type: "nominal", title, sort: [...categories], axis: { labelLimit: 160 } }) as const;
  const x = axis("predicted", "predicted label");
  const y = axis("true", "true label");
  return {
    id: "confusion-matrix",
    title: "Confusion matrix",
    description: `Cells of each true label (rows) by predicted label (columns) on ${confusion.source}: ${correct} of ${total} correct (accuracy ${total > 0 ? (correct / total).toFixed(4) : "n/a"}).`,
    spec: {
      ...BASE,
      width: Math.max(HEIGHT, 28 * categories.length),
      height: Math.max(HEIGHT, 28 * categories.length),
      title: "Confusion matrix",
      data: { values },
      layer: [
        {
          mark: { type: "rect" },
          encoding: {
            x,
            y,
            color: { field: "cells", type: "quantitative", title: "cells", scale: { scheme: "blues" } },
          },
        },
        {
          mark: { type: "text", fontSize: 10, aria: false },
          encoding: {
            x,
            y,
            text: { field: "cells", type: "quantitative" },
            // Dark cells get white numbers.
            color: {
              condition: {
                test: `datum.cells > ${0.5 * Math.max(...values.map((v) => v.cells))}`,
                value: "white",
              },
              value: "black",
            },
          },
        },
      ],
    } as TopLevelSpec,
  };
}

function mediansChart(medians: MediansData): Chart | null {
  const values = medians.median_g.filter((m) => Number.isFinite(m)).map((median) => ({ median }));
  if (values.length === 0) return null;
  const never = medians.median_g.length - values.length;
  return {
    id: "tdigest-medians",
    title: "Per-gene medians of the non-zero values",
    description:
      `Histogram of median_g over ${values.length} genes` +
      (never > 0 ? `; ${never} gene(s) never non-zero (median NaN) left out.` : "."),
    spec: {
      ...BASE,
      title: "Per-gene medians of the non-zero values",
      data: { values },
      mark: { type: "bar" },
      encoding: {
        x: { field: "median", type: "quantitative", bin: { maxbins: 50 }, title: "median_g" },
        y: { aggregate: "count", type: "quantitative", title: "genes" },
      },
    } as TopLevelSpec,
  };
}

/** The charts of a report, in the order the page shows them. */
export function reportCharts(data: ReportData): ChartPlan {
  const charts: Chart[] = [];
  const notes: string[] = [];
  if (data.metrics) {
    const plan = metricsCharts(data.metrics);
    charts.push(...plan.charts);
    notes.push(...plan.notes);
  } else if (!data.sources.predictions) notes.push("The run has no metrics.csv: no training curves to plot.");
  if (data.pca) charts.push(...pcaCharts(data.pca));
  if (data.hvg) {
    const chart = hvgChart(data.hvg);
    if (chart) charts.push(chart);
    else notes.push("No gene has a positive mean and variance: no mean-variance plot.");
  }
  if (data.medians) {
    const chart = mediansChart(data.medians);
    if (chart) charts.push(chart);
    else notes.push("No gene was ever non-zero: no medians to plot.");
  }
  if (data.embedding) charts.push(embeddingChart(data.embedding));
  if (data.confusion) charts.push(confusionChart(data.confusion));
  notes.push(...(data.notes ?? []));
  if (charts.length === 0) notes.push("Nothing to plot.");
  return { charts, notes };
}

// `cellarium report <run dir | checkpoint | predictions .h5ad/.zarr>`: report.html (every plot
// inline, nothing fetched) and one PNG per plot, written into the run directory (for predictions:
// a `<name>_report` folder beside the file) or --out.

import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { outputError, writeFileAtomic } from "../data/atomic-file.js";
import { reportCharts } from "../report/charts.js";
import type { ReportData } from "../report/data.js";
import { reportHtml } from "../report/page.js";
import { chartSvg, loadRasterizer } from "../report/render.js";
import {
  type EmbeddingOptions,
  gatherPredictionsReport,
  isAnnDataPath,
  predictionsReportDir,
} from "./report-anndata.js";
import { findRunFiles, gatherReport } from "./report-gather.js";

export interface ReportOptions extends EmbeddingOptions {
  /** Folder for report.html and the PNGs (default: the run directory). */
  readonly out?: string;
  /** Skip the PNGs. */
  readonly png?: boolean;
  readonly log?: (line: string) => void;
}

export interface ReportResult {
  readonly html: string;
  readonly pngs: readonly string[];
  /** The charts' ids, in the page's order. */
  readonly charts: readonly string[];
}

/** PNG pixels per SVG unit: a 520-unit-wide plot becomes 1,000-odd pixels wide. */
const PNG_SCALE = 2;

export async function reportCommand(path: string, options: ReportOptions = {}): Promise<ReportResult> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  let data: ReportData;
  let folder: string;
  if (isAnnDataPath(path)) {
    data = await gatherPredictionsReport(path, options);
    folder = predictionsReportDir(path);
  } else {
    const files = await findRunFiles(path);
    data = await gatherReport(files, path);
    folder = files.runDir;
  }
  const plan = reportCharts(data);
  const figures = [];
  for (const chart of plan.charts) figures.push({ chart, svg: await chartSvg(chart) });
  const notes = [...plan.notes];
  const rasterize = options.png === false ? null : await loadRasterizer();
  if (typeof rasterize === "string" && plan.charts.length > 0) notes.push(`No PNGs: ${rasterize}.`);

  const out = options.out ?? folder;
  await mkdir(out, { recursive: true }).catch((error: unknown) => {
    throw outputError(out, error, "--out");
  });
  const pngs: string[] = [];
  if (typeof rasterize === "function") {
    for (const { chart, svg } of figures) {
      const file = join(out, `${chart.id}.png`);
      await writeFileAtomic(file, rasterize(svg, PNG_SCALE), { key: "--out" });
      pngs.push(file);
    }
  }
  const html = join(out, "report.html");
  await writeFileAtomic(html, reportHtml(data, figures, notes), { key: "--out" });
  log(
    `wrote ${html} (${figures.length} plot(s)${pngs.length > 0 ? `, ${pngs.length} PNG(s) beside it` : ""})`,
  );
  for (const note of notes) log(`  ${note}`);
  return { html, pngs, charts: figures.map((f) => f.chart.id) };
}

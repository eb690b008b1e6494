// report.html: one self-contained page (the plots as inline SVG, the style inline, no script, nothing
// fetched), so that it opens from a laptop's disk, a mail attachment or an offline cluster node.

import type { Chart } from "./charts.js";
import type { ReportData } from "./data.js";

export function escapeHtml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

const STYLE = `
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1400px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.4rem; word-break: break-all; }
table { border-collapse: collapse; margin-bottom: 1.5rem; }
td, th { text-align: left; padding: 0.2rem 0.8rem 0.2rem 0; vertical-align: top; }
th { font-weight: 600; }
.plots { display: flex; flex-wrap: wrap; gap: 1.5rem; }
figure { margin: 0; }
figcaption { font-size: 0.85rem; color: #555; max-width: 600px; }
.notes { color: #555; }
`;

/** A hyperparameter as the page shows it: long lists shortened to their first values and length. */
function shortValue(value: unknown): string {
  const text = JSON.stringify(value, (_key, v: unknown) =>
    Array.isArray(v) && v.length > 10 ? [...v.slice(0, 5), `... (${v.length})`] : v,
  );
  return text === undefined ? String(value) : text;
}

/** The page: what the report is about, then each chart's SVG with its caption, then the notes. */
export function reportHtml(
  data: ReportData,
  figures: readonly { chart: Chart; svg: string }[],
  notes: readonly string[],
): string {
  const rows: [string, string][] = [];
  if (data.sources.metrics) rows.push(["metrics", data.sources.metrics]);
  if (data.sources.checkpoint) rows.push(["checkpoint", data.sources.checkpoint]);
  if (data.sources.predictions) rows.push(["predictions", data.sources.predictions]);
  if (data.model) {
    rows.push(["model", data.model.className]);
    rows.push(["global step", String(data.model.globalStep)]);
    for (const [key, value] of Object.entries(data.model.hyperparameters))
      if (key !== "var_names_g") rows.push([key, shortValue(value)]);
  }
  const table = rows
    .map(([key, value]) => `<tr><th>${escapeHtml(key)}</th><td>${escapeHtml(value)}</td></tr>`)
    .join("\n");
  const plots = figures
    .map(
      ({ chart, svg }) =>
        `<figure id="${escapeHtml(chart.id)}" class="plot">\n${svg}\n<figcaption>${escapeHtml(chart.description)}</figcaption>\n</figure>`,
    )
    .join("\n");
  const noteList = notes.map((note) => `<li>${escapeHtml(note)}</li>`).join("\n");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cellarium run report: ${escapeHtml(data.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>Run report: ${escapeHtml(data.title)}</h1>
<table>
${table}
</table>
<div class="plots">
${plots}
</div>
${noteList ? `<ul class="notes">\n${noteList}\n</ul>` : ""}
</body>
</html>
`;
}

// A chart's Vega-Lite spec as SVG (vega-lite compiles it to Vega; a headless Vega View renders the
// scenegraph to SVG text without a browser or a canvas) and the SVG as PNG (resvg, a Rust SVG
// renderer with a prebuilt binary per platform, installed as an optional npm dependency).

import * as vega from "vega";
import { compile } from "vega-lite";
import type { Chart } from "./charts.js";

/** The chart as a standalone <svg> element. */
export async function chartSvg(chart: Chart): Promise<string> {
  const view = new vega.View(vega.parse(compile(chart.spec).spec), { renderer: "none" });
  try {
    return uniqueIds(await view.toSVG(), chart.id);
  } finally {
    view.finalize();
  }
}

/**
 * Vega numbers the clip paths and gradients of each SVG from 1 (`id="clip1"`, `url(#clip1)`); prefixed
 * with the chart's id they stay distinct when several SVGs share one HTML page.
 */
function uniqueIds(svg: string, prefix: string): string {
  return svg
    .replace(/\sid="([^"]+)"/g, (_, id: string) => ` id="${prefix}-${id}"`)
    .replace(/url\(#([^)]+)\)/g, (_, id: string) => `url(#${prefix}-${id})`);
}

/** Turns SVG text into PNG bytes, `scale` pixels per SVG unit. */
export type Rasterizer = (svg: string, scale: number) => Uint8Array;

/**
 * resvg's rasterizer, or the reason it cannot load (its platform binary is an optional dependency
 * that npm skips where no prebuilt binary exists): the report is then written without PNGs.
 */
export async function loadRasterizer(): Promise<Rasterizer | string> {
  try {
    const { Resvg } = await import("@resvg/resvg-js");
    return (svg, scale) =>
      new Resvg(svg, {
        fitTo: { mode: "zoom", value: scale },
        // Vega's default font is "sans-serif"; system fonts draw the axis labels and titles.
        font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans", sansSerifFamily: "DejaVu Sans" },
        background: "white",
      })
        .render()
        .asPng();
  } catch (error) {
    return `@resvg/resvg-js cannot load (${error instanceof Error ? error.message.split("\n")[0] : String(error)})`;
  }
}

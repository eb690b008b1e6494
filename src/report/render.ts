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
    const fonts = await fontSource();
    return (svg, scale) =>
      new Resvg(svg, {
        fitTo: { mode: "zoom", value: scale },
        // Vega's default font is "sans-serif"; DejaVu Sans draws the axis labels and titles.
        font: { ...fonts, defaultFontFamily: "DejaVu Sans", sansSerifFamily: "DejaVu Sans" },
        background: "white",
      })
        .render()
        .asPng();
  } catch (error) {
    return `@resvg/resvg-js cannot load (${error instanceof Error ? error.message.split("\n")[0] : String(error)})`;
  }
}

/** Where distributions install DejaVu (Debian and Ubuntu, Fedora, Arch). */
const DEJAVU_DIRS = [
  "/usr/share/fonts/truetype/dejavu",
  "/usr/share/fonts/dejavu-sans-fonts",
  "/usr/share/fonts/TTF",
];

/**
 * The fonts resvg loads for each PNG: DejaVu's directory where there is one, since scanning every
 * system font costs ~30 ms per PNG (resvg builds its font database anew for each image); else all.
 */
async function fontSource(): Promise<{ loadSystemFonts: boolean; fontDirs?: string[] }> {
  const { existsSync } = await import("node:fs");
  const dir = DEJAVU_DIRS.find((d) => existsSync(`${d}/DejaVuSans.ttf`));
  return dir === undefined ? { loadSystemFonts: true } : { loadSystemFonts: false, fontDirs: [dir] };
}

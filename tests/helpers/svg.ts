// What a test reads back from the SVG that Vega writes.

/** The aria-labels of a chart's data points (Vega-Lite writes one per symbol: "field: value; ..."). */
export function pointLabels(svg: string): Record<string, string>[] {
  return [...svg.matchAll(/<path[^>]*aria-label="([^"]*)"/g)].map((m) =>
    Object.fromEntries(
      m[1]!.split("; ").map((pair) => {
        const at = pair.indexOf(": ");
        return [pair.slice(0, at), pair.slice(at + 2)];
      }),
    ),
  );
}

/** The inline <svg> of each plot in report.html, by the id of its figure. */
export function figureSvgs(html: string): Map<string, string> {
  return new Map(
    [...html.matchAll(/<figure id="([^"]+)" class="plot">\s*(<svg[\s\S]*?<\/svg>)/g)].map((m) => [
      m[1]!,
      m[2]!,
    ]),
  );
}

/** URLs in src and href attributes (and CSS url()) that point outside the page: what would need a network. */
export function externalReferences(html: string): string[] {
  const urls = [
    ...html.matchAll(/\s(?:src|href|xlink:href)\s*=\s*["']?([^"'\s>]*)/gi),
    ...html.matchAll(/url\(\s*["']?([^"')]*)/gi),
    ...html.matchAll(/@import\s+["']?([^"';\s]*)/gi),
  ].map((m) => m[1]!);
  return urls.filter((url) => /^(?:[a-z][a-z0-9+.-]*:|\/\/)/i.test(url) && !url.startsWith("data:"));
}

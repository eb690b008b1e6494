// The summary CSV that OnePassMeanVarStd writes at the end of fit. Upstream builds a pandas
// DataFrame with columns var_names_g, mean_g, var_g, std_g and calls to_csv(index=False), so the
// text here follows pandas' defaults: no index column, "\n" line ends, a field quoted (quotes
// doubled) when it holds a comma, a quote or a line break, floats as Python's repr, NaN as an
// empty field, infinities as inf / -inf. Upstream's numbers are float32; ours are float64, so
// they carry more digits. One deliberate difference: pandas leaves a lone "\r" unquoted, which its
// own reader then splits on; we quote it.

import { ArgumentError } from "../../errors.js";

export function formatMeanVarStdCsv(
  var_names_g: readonly string[],
  mean_g: ArrayLike<number>,
  var_g: ArrayLike<number>,
  std_g: ArrayLike<number>,
): string {
  const g = var_names_g.length;
  if (mean_g.length !== g || var_g.length !== g || std_g.length !== g) {
    throw new ArgumentError(
      `formatMeanVarStdCsv: var_names_g has ${g} names but mean_g, var_g, std_g have ${mean_g.length}, ${var_g.length}, ${std_g.length} values`,
    );
  }
  const lines = ["var_names_g,mean_g,var_g,std_g"];
  for (let i = 0; i < g; i++) {
    lines.push(
      `${csvField(var_names_g[i]!)},${pythonFloat(mean_g[i]!)},${pythonFloat(var_g[i]!)},${pythonFloat(std_g[i]!)}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/** A CSV field as pandas writes it: quoted (quotes doubled) when it holds a comma, a quote or a line break. */
export function csvField(text: string): string {
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * A float as pandas writes it: Python's repr (shortest round-trip digits; scientific notation
 * when the decimal exponent is below -4 or at least 16, with a signed two-digit exponent; a
 * trailing ".0" on integral values), NaN as the empty string.
 */
export function pythonFloat(x: number): string {
  if (Number.isNaN(x)) return "";
  if (x === Number.POSITIVE_INFINITY) return "inf";
  if (x === Number.NEGATIVE_INFINITY) return "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  // Where JavaScript and Python both write plain decimals (1e-4 <= |x| < 1e16; JavaScript up to
  // 1e21), String() gives repr's digits; only an integral value lacks repr's ".0".
  const magnitude = Math.abs(x);
  if (magnitude >= 1e-4 && magnitude < 1e16) {
    const text = String(x);
    return text.includes(".") ? text : `${text}.0`;
  }
  // JavaScript's toExponential() without an argument gives the same shortest digits as repr.
  const [mantissa, exponentText] = Math.abs(x).toExponential().split("e") as [string, string];
  const exponent = Number(exponentText);
  const sign = x < 0 ? "-" : "";
  const digits = mantissa.replace(".", "");
  if (exponent < -4 || exponent >= 16) {
    const magnitude = String(Math.abs(exponent)).padStart(2, "0");
    return `${sign}${mantissa}e${exponent < 0 ? "-" : "+"}${magnitude}`;
  }
  if (exponent < 0) return `${sign}0.${"0".repeat(-exponent - 1)}${digits}`;
  const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, "0");
  const fraction = digits.slice(exponent + 1);
  return `${sign}${whole}.${fraction === "" ? "0" : fraction}`;
}

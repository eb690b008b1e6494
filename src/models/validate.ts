// Transitional alias of check-var-names.ts, kept only so that src/models/scvi.ts (being optimised on
// another branch) builds unchanged; point its import at ./check-var-names.js and delete this file.

export { checkVarNames } from "./check-var-names.js";

// IncrementalPCA's default oversampling, apart from the model so that the command line's registry
// states it without loading the model.

/**
 * Random directions added to the randomized SVD's start (the current k components after the first
 * batch). Without them a warm-started SVD finds directions that are new in a batch (a cell type the
 * earlier batches lacked) only through the power iterations. On the 5,000-cell benchmark variant
 * (bench/ipca-accuracy.ts, k = 50) the worst explained-variance error of the leading components is
 * 5.3% / 5.5% / 3.6% for oversample 0 / 10 / 25 at niter 2 and 1.1% / 0.8% for 10 / 25 at niter 4
 * (upstream's algorithm: 31%): 10 keeps the cost near upstream's (the products grow with
 * k + oversample), while svd_lowrank_niter is the setting that buys accuracy.
 */
export const DEFAULT_OVERSAMPLE = 10;

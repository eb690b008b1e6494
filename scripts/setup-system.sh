#!/usr/bin/env bash
# System packages: OpenBLAS (with LAPACK) for the native addon, Open MPI for its MPI part (fits
# across processes under mpirun; tests run 2 and 4 ranks), a C toolchain for node-gyp, and
# Debian's Python scientific stack, used by the tests that check our files and numbers against
# anndata, h5py, zarr (AnnData-Zarr stores), numpy, PyTorch and scikit-learn; R (r-base-core),
# whose loess is the reference for ours, and the reference BLAS (libblas3), which the LOESS test
# loads into R for a bit-for-bit comparison (R keeps OpenBLAS as its default); chromium, in which a
# test opens the run report (report.html) headless through playwright-core. Skips the install
# when everything is present.
set -euo pipefail
packages=(build-essential python3 libopenblas-dev libopenmpi-dev openmpi-bin python3-numpy python3-h5py python3-anndata python3-zarr python3-torch python3-sklearn r-base-core libblas3 chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

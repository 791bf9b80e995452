#!/usr/bin/env bash
# Everything the dataset generator needs: `cargo xtask setup` (the Debian packages of
# xtask/debian-packages.txt and the .venv with models/requirements-data.txt), then the singing
# synthesizer pysinsy, which builds from source. `demix-render` refuses to run without it unless
# given --allow-missing-voices (the songs, the validation split included, then differ).
# Usage (from the repo root; as root, or with the packages already installed):
#   bash models/data/setup.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo xtask setup
.venv/bin/pip install -q cython "cmake<4" wheel "setuptools>=70,<81" numpy
CMAKE_BUILD_PARALLEL_LEVEL=1 .venv/bin/pip install -q --no-build-isolation pysinsy \
  || echo "pysinsy failed to build: demix-render needs --allow-missing-voices without it"

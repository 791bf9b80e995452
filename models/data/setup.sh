#!/usr/bin/env bash
# Everything the dataset generator needs: `cargo xtask setup` (the Debian packages of
# xtask/debian-packages.txt and the .venv with models/requirements-data.txt), then the optional
# singing synthesizer pysinsy, which builds from source (the generator falls back to recorded and
# espeak voices without it).
# Usage (from the repo root; as root, or with the packages already installed):
#   bash models/data/setup.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo xtask setup
.venv/bin/pip install -q cython "cmake<4" wheel "setuptools>=70,<81" numpy
CMAKE_BUILD_PARALLEL_LEVEL=1 .venv/bin/pip install -q --no-build-isolation pysinsy \
  || echo "pysinsy failed to build: singing voice disabled"

#!/usr/bin/env bash
# Installs everything the dataset generator needs (Debian packages + Python venv).
# Usage (as root, from the repo root):  bash models/data/setup.sh [--no-apt]
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${1:-}" != "--no-apt" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y --no-install-recommends \
    fluidsynth fluid-soundfont-gm opl3-soundfont csound-soundfont avldrums.lv2-soundfont \
    mma openttd-openmsx espeak-ng ffmpeg sox flac timidity freepats \
    asterisk-core-sounds-en-g722 asterisk-core-sounds-es-g722 asterisk-core-sounds-fr-g722 \
    asterisk-core-sounds-it-g722 asterisk-core-sounds-ru-g722 pocketsphinx-testdata gcompris-qt-data hedgewars-data warzone2100-data ktuberling-data
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -r models/requirements-data.txt
# singing synthesizer (optional: the generator falls back to speech voices without it)
.venv/bin/pip install -q cython "cmake<4" wheel "setuptools>=70,<81" numpy
CMAKE_BUILD_PARALLEL_LEVEL=1 .venv/bin/pip install -q --no-build-isolation pysinsy \
  || echo "pysinsy failed to build: singing voice disabled"

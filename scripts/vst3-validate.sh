#!/usr/bin/env bash
# Builds Steinberg's VST3 validator from a VST3 SDK checkout and runs it on the demix bundle.
#
#   scripts/vst3-validate.sh /path/to/vst3sdk [target/bundled/demix.vst3] [-e]
#
# The SDK (https://github.com/steinbergmedia/vst3sdk with its base, cmake, pluginterfaces and
# public.sdk submodules) is not part of this repository and is never downloaded here. The
# validator is built in a scratch copy (target/vst3-validator/) without the SDK's GUI hosting
# samples, which need GTK. Needs cmake and a C++ compiler. `-e` runs the extensive tests
# (about 540 tests, a few minutes). Exit status: the validator's (0 = no failed test).
set -euo pipefail
cd "$(dirname "$0")/.."
SDK=${1:?usage: $0 /path/to/vst3sdk [bundle] [-e]}
BUNDLE=${2:-target/bundled/demix.vst3}
EXTENSIVE=${3:-}
[ -f "$SDK/public.sdk/samples/vst-hosting/validator/CMakeLists.txt" ] \
  || { echo "vst3-validate: $SDK is not a VST3 SDK with its submodules" >&2; exit 1; }
[ -d "$BUNDLE" ] || { echo "vst3-validate: no bundle at $BUNDLE (run cargo xtask bundle)" >&2; exit 1; }
command -v cmake > /dev/null || { echo "vst3-validate: needs cmake (apt-get install cmake)" >&2; exit 1; }
WORK=target/vst3-validator
if [ ! -x "$WORK/build/bin/Release/validator" ]; then
  rm -rf "$WORK" && mkdir -p "$WORK"
  cp -r "$SDK" "$WORK/sdk"
  rm -rf "$WORK/sdk/public.sdk/samples/vst-hosting/editorhost" "$WORK/sdk/public.sdk/samples/vst-hosting/audiohost"
  cmake -S "$WORK/sdk" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release -DSMTG_ENABLE_VSTGUI_SUPPORT=OFF \
    -DSMTG_ENABLE_VST3_PLUGIN_EXAMPLES=OFF -DSMTG_ENABLE_VST3_HOSTING_EXAMPLES=ON -DSMTG_RUN_VST_VALIDATOR=OFF > "$WORK/cmake.log"
  cmake --build "$WORK/build" --target validator -j"$(nproc)" > "$WORK/build.log"
fi
"$WORK/build/bin/Release/validator" ${EXTENSIVE:+-e} "$(realpath "$BUNDLE")"

#!/usr/bin/env bash
# Editor smoke check: builds the plugin (debug, allocation checker on), then opens its editor
# through the CLAP gui extension inside an Xvfb display, lets it render for ~3 s while audio is
# processed, saves a screenshot and closes/reopens it (tests/tests/editor.rs).
#
# Needs xvfb (Debian: apt-get install xvfb) and the X11/GL packages for the build.
# Output: target/editor-smoke.png (override with DEMIX_SCREENSHOT=/path.png).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v xvfb-run >/dev/null || { echo "xvfb-run not found: apt-get install xvfb" >&2; exit 1; }
cargo build -p demix --features assert_process_allocs
xvfb-run -a -s "-screen 0 1280x800x24" \
    cargo test -p demix-e2e --test editor -- --nocapture
echo "screenshot: ${DEMIX_SCREENSHOT:-target/editor-smoke.png}"

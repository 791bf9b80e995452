#!/usr/bin/env bash
# Editor smoke check: builds the plugin (debug, allocation checker on), then opens its editor
# through the CLAP gui extension inside an Xvfb display, lets it render for ~3 s while audio is
# processed, checks the layout regions of a screenshot and closes/reopens it
# (tests/tests/editor.rs).
#
# Needs xvfb (Debian: apt-get install xvfb) and the X11/GL packages for the build.
# Output: target/editor-smoke.png (override with DEMIX_SCREENSHOT=/path.png).
# With --docs, also writes a compressed copy to docs/screenshot.png (needs python3).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v xvfb-run >/dev/null || { echo "xvfb-run not found: apt-get install xvfb" >&2; exit 1; }
cargo build -p demix --features assert_process_allocs
# The plugin laid out as an installed bundle, so the editor runs (and shows) the Neural engine.
bundle=target/editor-bundle
rm -rf "$bundle" && mkdir -p "$bundle/demix-resources"
cp target/debug/libdemix.so "$bundle/demix.clap"
cp models/demix.onnx .cache/ort/libonnxruntime.so.* "$bundle/demix-resources/"
DEMIX_CLAP="$PWD/$bundle/demix.clap" xvfb-run -a -s "-screen 0 1280x800x24" \
    cargo test -p demix-e2e --test editor -- --ignored --nocapture
shot="${DEMIX_SCREENSHOT:-target/editor-smoke.png}"
echo "screenshot: $shot"
if [[ "${1:-}" == "--docs" ]]; then
    # The test writes an uncompressed PNG; re-encode it (Sub filter + zlib level 9).
    python3 - "$shot" docs/screenshot.png <<'PY'
import struct, sys, zlib
src, dst = sys.argv[1], sys.argv[2]
data = open(src, "rb").read()
pos, idat, w, h = 8, b"", 0, 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h = struct.unpack(">II", body[:8])
        assert body[8:10] == b"\x08\x02", "expected 8-bit RGB"
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw = zlib.decompress(idat)
stride = w * 3
out = bytearray()
for y in range(h):
    row = raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)]
    out.append(1)  # Sub filter
    out += bytes((row[i] - (row[i - 3] if i >= 3 else 0)) & 0xFF for i in range(stride))
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) \
    + chunk(b"IDAT", zlib.compress(bytes(out), 9)) + chunk(b"IEND", b"")
open(dst, "wb").write(png)
print(f"{dst}: {w}x{h}, {len(png) // 1024} KiB")
PY
fi

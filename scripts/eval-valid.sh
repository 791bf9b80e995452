#!/usr/bin/env bash
# Separates the validation set with every engine and scores it with `demix eval`.
#
#   scripts/eval-valid.sh > docs/EVAL-table.md
#
# Prints a markdown report to stdout (per-stem medians over the tracks: SDR as in MDX, SI-SDR,
# BSS-Eval v4 SDR/SIR/SAR; separation speed; the exact commands), progress to stderr.
# Writes under $OUT (default target/eval/): <engine>.json and <engine>.csv (`demix eval`
# output, per track and per window), <engine>.separate.log, summary.json, report.md.
#
# Environment:
#   VALID=models/.data/songs/valid   validation songs: <song>/{mixture,vocals,drums,bass,other}.wav
#   ENGINES="baseline classic neural neural-fp32"   (also: classic-mask, neural-mask, neural-fp32-mask:
#                                                    the same without stereo refinement)
#   MODEL=models/demix.onnx          int8 model for "neural"
#   MODEL_FP32=models/demix_fp32.onnx
#   OUT=target/eval
#   KEEP_STEMS=1                     keep the separated stems ($OUT/<engine>/<song>/), ~0.2 GB per engine
#   DEMIX=path/to/demix              use this binary instead of building the release one
#   LATENCY=standard                 the streaming STFT's latency (standard or low; `demix separate --latency`)
set -euo pipefail
cd "$(dirname "$0")/.."

VALID=${VALID:-models/.data/songs/valid}
ENGINES=${ENGINES:-baseline classic neural neural-fp32}
MODEL=${MODEL:-models/demix.onnx}
MODEL_FP32=${MODEL_FP32:-models/demix_fp32.onnx}
OUT=${OUT:-target/eval}
KEEP_STEMS=${KEEP_STEMS:-0}
LATENCY=${LATENCY:-standard}

log() { echo "eval-valid: $*" >&2; }
now() { date +%s.%N; }

T_START=$(now)
# Commit at the start (the build uses the working tree; "+dirty" if cli/ or engine/ differ).
COMMIT=$(git rev-parse --short HEAD 2> /dev/null || echo unknown)
git diff --quiet HEAD -- cli engine 2> /dev/null || COMMIT="$COMMIT+dirty"
export COMMIT
if [ -z "${DEMIX:-}" ]; then
  log "building the release binary (cargo build --release -p demix-cli)"
  cargo build --release -q -p demix-cli >&2
  DEMIX=target/release/demix
fi

[ -d "$VALID" ] || { echo "eval-valid: no validation set at $VALID" >&2; exit 1; }
mkdir -p "$OUT"
# `demix separate` names each output folder after the input file: link every song's mixture
# as $OUT/inputs/<song>.wav so the estimates line up with $VALID/<song>/.
rm -rf "$OUT/inputs"
mkdir -p "$OUT/inputs"
n_songs=0
for d in "$VALID"/*/; do
  song=$(basename "$d")
  if [ -f "$d/mixture.wav" ]; then
    ln -s "$(realpath "$d/mixture.wav")" "$OUT/inputs/$song.wav"
    n_songs=$((n_songs + 1))
  fi
done
[ "$n_songs" -gt 0 ] || { echo "eval-valid: no <song>/mixture.wav under $VALID" >&2; exit 1; }
log "$n_songs songs in $VALID; engines: $ENGINES"
# The models may be replaced while this runs (retraining): the report says if they changed.
sha256sum "$MODEL" "$MODEL_FP32" > "$OUT/models.start.sha256" 2> /dev/null || true

: > "$OUT/commands.txt"
for e in $ENGINES; do
  case $e in
    baseline | classic) args=(--engine "$e") ;;
    neural) args=(--engine neural --model "$MODEL") ;;
    neural-fp32) args=(--engine neural --model "$MODEL_FP32") ;;
    classic-mask) args=(--engine classic --no-stereo-refine) ;;
    neural-mask) args=(--engine neural --model "$MODEL" --no-stereo-refine) ;;
    neural-fp32-mask) args=(--engine neural --model "$MODEL_FP32" --no-stereo-refine) ;;
    *) echo "eval-valid: unknown engine $e (baseline, classic, neural, neural-fp32, classic-mask, neural-mask, neural-fp32-mask)" >&2; exit 1 ;;
  esac
  args+=(--latency "$LATENCY")
  rm -rf "${OUT:?}/$e"
  sep_cmd="$DEMIX separate ${args[*]} -q -o $OUT/$e $OUT/inputs/*.wav"
  eval_cmd="$DEMIX eval --reference $VALID --estimates $OUT/$e --json $OUT/$e.json --csv $OUT/$e.csv"
  printf '%s\t%s\t%s\n' "$e" "$sep_cmd" "$eval_cmd" >> "$OUT/commands.txt"
  log "$e: separating"
  t0=$(now)
  "$DEMIX" separate "${args[@]}" -q -o "$OUT/$e" "$OUT"/inputs/*.wav 2> "$OUT/$e.separate.log" \
    || { cat "$OUT/$e.separate.log" >&2; echo "eval-valid: $e: separation failed" >&2; exit 1; }
  t1=$(now)
  log "$e: evaluating"
  "$DEMIX" eval --reference "$VALID" --estimates "$OUT/$e" --json "$OUT/$e.json" --csv "$OUT/$e.csv" > "$OUT/$e.txt"
  t2=$(now)
  echo "$t0 $t1 $t2" > "$OUT/$e.time"
  log "$e: separation $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s, evaluation $(awk "BEGIN{printf \"%.1f\", $t2 - $t1}") s"
  [ "$KEEP_STEMS" = 1 ] || rm -rf "${OUT:?}/$e"
done
T_END=$(now)

python3 - "$OUT" "$VALID" "$MODEL" "$MODEL_FP32" "$T_START" "$T_END" $ENGINES <<'PY'
import hashlib, json, os, re, subprocess, sys, wave, glob, datetime
out, valid, model, model_fp32, t_start, t_end, *engines = sys.argv[1:]
def sha(p):
    try:
        return hashlib.sha256(open(p, 'rb').read()).hexdigest()[:12]
    except OSError:
        return "missing"
def git(*a):
    try:
        return subprocess.run(["git", *a], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"
# Audio duration from the WAV headers (float WAVs: format 3; read the fmt/data chunks directly).
def wav_seconds(p):
    with open(p, 'rb') as f:
        data = f.read(1 << 16)
    i, rate, block, size = 12, None, None, None
    while i + 8 <= len(data):
        cid, n = data[i:i+4], int.from_bytes(data[i+4:i+8], 'little')
        if cid == b'fmt ':
            rate = int.from_bytes(data[i+12:i+16], 'little'); block = int.from_bytes(data[i+20:i+22], 'little')
        if cid == b'data':
            size = n if n not in (0, 0xFFFFFFFF) else os.path.getsize(p) - i - 8
            break
        i += 8 + n + (n & 1)
    return size / block / rate if rate and block and size else 0.0
audio_s = sum(wav_seconds(p) for p in glob.glob(os.path.join(out, "inputs", "*.wav")))
stems = ["vocals", "drums", "bass", "other"]
metrics = [("sdr_mdx", "SDR (MDX)"), ("si_sdr", "SI-SDR"), ("SDR", "BSS SDR"), ("SIR", "SIR"), ("SAR", "SAR")]
labels = {"baseline": "baseline (centre/HPSS/low-pass)", "classic": "classic (real-time DSP)",
          "neural": f"neural int8 (`{model}`)", "neural-fp32": f"neural fp32 (`{model_fp32}`)",
          "classic-mask": "classic, masks only (no stereo refinement)",
          "neural-mask": f"neural int8, masks only (`{model}`)", "neural-fp32-mask": f"neural fp32, masks only (`{model_fp32}`)"}
cmds = {}
for line in open(os.path.join(out, "commands.txt")):
    e, s, ev = line.rstrip("\n").split("\t")
    cmds[e] = (s, ev)
rows, summary = [], {"valid": valid, "audio_seconds": audio_s, "commit": os.environ.get("COMMIT") or git("rev-parse", "--short", "HEAD"),
                     "models": {model: sha(model), model_fp32: sha(model_fp32)}, "engines": {}}
def f(v):
    return "–" if v is None else f"{v:.2f}"
for e in engines:
    rep = json.load(open(os.path.join(out, f"{e}.json")))
    t0, t1, t2 = map(float, open(os.path.join(out, f"{e}.time")).read().split())
    agg = rep["aggregate"]
    summary["engines"][e] = {"tracks": len(rep["tracks"]), "failed": rep.get("failed", {}), "separate_s": t1 - t0,
                             "eval_s": t2 - t1, "rtf": (t1 - t0) / audio_s if audio_s else None,
                             "median": {s: agg.get(s) for s in stems}}
    log = open(os.path.join(out, f"{e}.separate.log")).read()
    m = re.search(r"(baseline|classic|neural [^)]*\)) engine", log)
    summary["engines"][e]["engine"] = m.group(1) if m else e
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=2)

L = []
n_tracks = max(v["tracks"] for v in summary["engines"].values())
L.append(f"Validation set `{valid}`: {n_tracks} songs, {audio_s/60:.1f} min; "
         f"commit `{summary['commit']}`; int8 model `{model}` sha256 `{sha(model)}…`, fp32 `{model_fp32}` sha256 `{sha(model_fp32)}…`; "
         f"{datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}.")
try:
    start = {l.split()[1]: l.split()[0][:12] for l in open(os.path.join(out, "models.start.sha256")) if l.strip()}
except OSError:
    start = {}
for p in (model, model_fp32):
    if p in start and start[p] != sha(p):
        L.append("")
        L.append(f"**Warning: `{p}` changed during the run (sha256 `{start[p]}…` at the start): rerun.**")
L.append("")
L.append("Median over songs per stem (dB; higher is better). SDR (MDX) = 10·log10(Σs²/Σ(s−ŝ)²) over the whole song; "
         "BSS SDR/SIR/SAR = BSS-Eval v4 (museval-compatible, 1 s windows, median over windows).")
L.append("")
L.append("| engine | stem | " + " | ".join(m[1] for m in metrics) + " |")
L.append("|---|---|" + "---:|" * len(metrics))
for e in engines:
    med = summary["engines"][e]["median"]
    for s in stems:
        a = med.get(s) or {}
        L.append(f"| {labels.get(e, e)} | {s} | " + " | ".join(f(a.get(k)) for k, _ in metrics) + " |")
L.append("")
L.append("SDR (MDX) at a glance (median over songs; `mean` = mean of the four stem medians):")
L.append("")
L.append("| engine | " + " | ".join(stems) + " | mean |")
L.append("|---|" + "---:|" * (len(stems) + 1))
for e in engines:
    med = summary["engines"][e]["median"]
    vals = [(med.get(s) or {}).get("sdr_mdx") for s in stems]
    ok = [v for v in vals if v is not None]
    L.append(f"| {labels.get(e, e)} | " + " | ".join(f(v) for v in vals) + f" | {f(sum(ok)/len(ok) if ok else None)} |")
L.append("")
L.append("| engine | separation (s) | × real time | evaluation (s) | failed tracks |")
L.append("|---|---:|---:|---:|---:|")
for e in engines:
    v = summary["engines"][e]
    rtf = "?" if v["rtf"] is None else f"{v['rtf']:.3f}"
    L.append(f"| {e}: {v['engine']} | {v['separate_s']:.1f} | {rtf} | {v['eval_s']:.1f} | {len(v['failed'])} |")
L.append("")
L.append(f"Total wall time of the script: {float(t_end) - float(t_start):.0f} s (including the release build).")
L.append("")
L.append("Commands (per engine):")
L.append("")
L.append("```")
for e in engines:
    s, ev = cmds[e]
    L.append(s.replace(os.path.join(out, "inputs") + "/*.wav", f"{out}/inputs/<song>.wav…   # <song>.wav -> {valid}/<song>/mixture.wav"))
    L.append(ev)
L.append("```")
text = "\n".join(L) + "\n"
open(os.path.join(out, "report.md"), "w").write(text)
sys.stdout.write(text)
PY

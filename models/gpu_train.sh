#!/usr/bin/env bash
# Train on a GPU machine that was sent the repository plus packed songs (see README, "Training on a
# GPU machine that cannot see this disk"). Runs one or more trainings side by side on the one GPU
# (the model is small, one run leaves most of the GPU idle) and copies each run's checkpoint and
# log to $OUT.
#
#   bash models/gpu_train.sh MINUTES "NAME ARGS..." ["NAME ARGS..." ...]
#
# Uses every models/.data/pack*/ folder that is present (linked into one tree under /tmp/songs)
# and every models/.data/rpack*/ folder of record-like examples (under /tmp/records, passed as
# --records), installs the wheels in .whl/ when there is one, and passes each run `--songs
# /tmp/songs --batch 64 --seg 3 --dim 64 --minutes MINUTES` before its own ARGS.
set -u
cd "$(dirname "$0")/.."
minutes=$1; shift
out=${OUT:-/tmp/gpu-out}
mkdir -p "$out"
py=${PYTHON:-python3}
if [ -d .whl ] && ! $py -c 'import soundfile' 2>/dev/null; then
  $py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
# the project's package (offline: the machine's own setuptools builds it)
if ! $py -c 'import demix_model' 2>/dev/null; then
  $py -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/demix-site ./models || exit 1
  export PYTHONPATH=/tmp/demix-site${PYTHONPATH:+:$PYTHONPATH}
fi
songs=${SONGS:-/tmp/songs}
rm -rf "$songs"; mkdir -p "$songs/train"
n=0
for p in ${PACKS:-models/.data/pack*/}; do
  [ -d "$p/train" ] || continue
  for t in "$p"/train/*/; do ln -s "$PWD/$t" "$songs/train/"; n=$((n + 1)); done
  [ -f "$songs/manifest.json" ] || cp "$p/manifest.json" "$songs/"
  [ -d "$p/.meta" ] && cp -r "$p/.meta" "$songs/" 2>/dev/null
  [ -d "$p/valid" ] && [ ! -e "$songs/valid" ] && ln -s "$PWD/$p/valid" "$songs/valid"
done
echo "packs: $(ls -d ${PACKS:-models/.data/pack*/} 2>/dev/null | tr '\n' ' ')-> $n train songs"
records=/tmp/records
rm -rf "$records"; mkdir -p "$records/train"
r=0
for p in models/.data/rpack*/; do
  [ -d "$p/train" ] || continue
  for t in "$p"/train/*/; do ln -s "$PWD/$t" "$records/train/"; r=$((r + 1)); done
  # per-example records (licences for the ledger)
  [ -d "$p/.meta/train" ] && mkdir -p "$records/.meta/train" && cp "$p"/.meta/train/*.json "$records/.meta/train/"
done
rec_args=""
[ "$r" -gt 0 ] && rec_args="--records $records"
echo "record packs: $(ls -d models/.data/rpack*/ 2>/dev/null | tr '\n' ' ')-> $r examples"
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader 2>/dev/null
pids=(); names=()
for spec in "$@"; do
  read -r name args <<<"$spec"
  names+=("$name")
  # shellcheck disable=SC2086
  PYTHONUNBUFFERED=1 $py -m demix_model.train --name "$name" --runs-dir models/.runs --songs "$songs" --batch 64 --seg 3 --dim 64 \
    --minutes "$minutes" $rec_args $args >"$out/$name.log" 2>&1 &
  pids+=($!)
done
# copy checkpoints to $OUT as they are saved (every 2 min), so a call cut off at its limit still
# brings back the latest ones
( while sleep 30; do for name in "${names[@]}"; do
    f=models/.runs/$name/last.pt
    [ -f "$f" ] && cp "$f" "$out/tmp.pt" && mv "$out/tmp.pt" "$out/$name.pt"
  done; done ) &
copier=$!
rc=0
for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
kill $copier 2>/dev/null
for name in "${names[@]}"; do
  tail -n 4 "$out/$name.log"
  [ -f "models/.runs/$name/last.pt" ] && cp "models/.runs/$name/last.pt" "$out/$name.pt"
done
exit $rc

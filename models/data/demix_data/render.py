"""CLI: render the licensed multitrack dataset.

    .venv/bin/demix-render \
        --out models/.data/songs --minutes-train 30 --minutes-valid 6 --seed 1

Layout (MUSDB18-HQ-like):
    <out>/{train,valid}/<song_id>/{mixture,vocals,drums,bass,other}.wav   (float32, 44.1 kHz, stereo)
    <out>/manifest.json   every song: split, duration, per-stem items (package, file, licence, soundfont, transforms)
    <out>/summary.csv
The same seed and arguments give the same songs (songs already rendered with the
same seed/version are reused, so the dataset can be grown by raising the minutes).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import soundfile as sf

from . import singing as G
from . import sources as S
from . import vocals as V
from .song import STEMS, render_song

GEN_VERSION = 9
SPLIT_CODE = {"train": 1, "valid": 2}


def voices_available() -> dict:
    """Which optional singing synthesizers this environment has. A song draws its vocal kind
    among the available ones, so a render without one differs song by song from a render with
    it: the state is part of every song's metadata and of the manifest."""
    return {"sinsy": V.sinsy_available(), "sung": G.available()}


def song_dir(out, split, sid):
    return os.path.join(out, split, sid)


def meta_path(out, split, sid):
    return os.path.join(out, ".meta", split, sid + ".json")


def _job(args):
    out, split, i, seed, min_s, max_s = args
    sid = f"{split}_{i:04d}"
    mp = meta_path(out, split, sid)
    d = song_dir(out, split, sid)
    voices = voices_available()
    if os.path.exists(mp):
        with open(mp) as f:
            info = json.load(f)
        if info.get("gen_version") == GEN_VERSION and info.get("seed") == seed and \
                info.get("min_s") == min_s and info.get("max_s") == max_s and \
                info.get("voices") == voices and \
                all(os.path.exists(os.path.join(d, s + ".wav")) for s in STEMS + ("mixture",)):
            return info
    for attempt in range(8):
        try:
            stems, info = render_song(sid, split, [seed, SPLIT_CODE[split], i, attempt], min_s, max_s)
            break
        except Exception as e:  # a groove mma cannot play, an empty segment...
            last = e
    else:
        raise RuntimeError(f"{sid}: {last!r}")
    os.makedirs(d, exist_ok=True)
    mix = np.zeros_like(stems["vocals"], dtype=np.float64)
    for s in STEMS:
        mix += stems[s].astype(np.float64)
        sf.write(os.path.join(d, s + ".wav"), stems[s], 44100, subtype="FLOAT")
    sf.write(os.path.join(d, "mixture.wav"), mix.astype(np.float32), 44100, subtype="FLOAT")
    info.update(gen_version=GEN_VERSION, seed=seed, attempt=attempt, min_s=min_s, max_s=max_s,
                voices=voices, path=f"{split}/{sid}")
    os.makedirs(os.path.dirname(mp), exist_ok=True)
    with open(mp, "w") as f:
        json.dump(info, f, indent=1, default=float)
    return info


def render_split(out, split, minutes, seed, jobs, min_s, max_s, log=print):
    target = minutes * 60
    done, total, i = [], 0.0, 0
    with ProcessPoolExecutor(max_workers=jobs) as ex:
        while total < target:
            batch = [(out, split, i + k, seed, min_s, max_s) for k in range(jobs)]
            for info in ex.map(_job, batch):
                if total >= target:  # computed beyond the target: discard
                    shutil.rmtree(song_dir(out, split, info["song_id"]), ignore_errors=True)
                    os.remove(meta_path(out, split, info["song_id"]))
                    continue
                done.append(info)
                total += info["duration_s"]
            i += jobs
            log(f"[{split}] {len(done)} songs, {total / 60:.1f} / {minutes} min")
    # remove stale songs from earlier runs with other arguments
    keep = {d["song_id"] for d in done}
    for root in (os.path.join(out, split), os.path.join(out, ".meta", split)):
        if os.path.isdir(root):
            for name in os.listdir(root):
                if name.replace(".json", "") not in keep:
                    p = os.path.join(root, name)
                    shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
    return done


def write_manifest(out, songs, args):
    used = set()
    for s in songs:
        for st in s["stems"].values():
            for it in st["items"]:
                used.add(it["package"])
    for s in songs:
        for st in s["stems"].values():
            for it in st["items"]:
                assert not S.is_reserved(it["package"]) and not S.is_reserved(it["file"]), it
    man = dict(
        generator="demix_data.render", gen_version=GEN_VERSION, seed=args.seed,
        args=dict(minutes_train=args.minutes_train, minutes_valid=args.minutes_valid,
                  min_seconds=args.min_seconds, max_seconds=args.max_seconds),
        voices=voices_available(),
        sample_rate=44100, stems=list(STEMS), format="wav float32 stereo; mixture = sum of stems",
        splits={sp: dict(songs=sum(1 for s in songs if s["split"] == sp),
                         minutes=round(sum(s["duration_s"] for s in songs if s["split"] == sp) / 60, 3),
                         soundfonts=sorted({v for s in songs if s["split"] == sp for v in s["soundfonts"].values()}))
                for sp in ("train", "valid")},
        licences={p: S.LICENCES.get(p, "?") for p in sorted(used)},
        reserved_packages_excluded=list(S.RESERVED_PACKAGES),
        songs=songs,
    )
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(man, f, indent=1, default=float)
    with open(os.path.join(out, "summary.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["song_id", "split", "path", "duration_s", "source", "groove_or_file", "tempo", "soundfont_drums",
                    "soundfont_bass", "soundfont_other", "vocal_kinds", "vocal_packages"])
        for s in songs:
            w.writerow([s["song_id"], s["split"], s["path"], s["duration_s"], s["source"],
                        s.get("groove") or os.path.basename(s["stems"]["drums"]["items"][0]["file"]),
                        s.get("tempo"), s["soundfonts"]["drums"], s["soundfonts"]["bass"], s["soundfonts"]["other"],
                        "+".join(s["vocal_kinds"]),
                        "+".join(sorted({i["package"] for i in s["stems"]["vocals"]["items"]}))])
    return man


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="models/.data/songs")
    ap.add_argument("--minutes-train", type=float, default=30)
    ap.add_argument("--minutes-valid", type=float, default=6)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1, help="parallel songs (the machine is shared: keep <= 2)")
    ap.add_argument("--min-seconds", type=float, default=20)
    ap.add_argument("--max-seconds", type=float, default=60)
    ap.add_argument("--nice", type=int, default=10)
    ap.add_argument("--allow-missing-voices", action="store_true",
                    help="render even if pysinsy or pyworld is missing (the songs then differ from "
                         "a full render, the validation split included)")
    args = ap.parse_args(argv)
    missing = [k for k, ok in voices_available().items() if not ok]
    if missing and not args.allow_missing_voices:
        sys.exit(f"demix-render: singing synthesizer(s) missing: {', '.join(missing)} "
                 "(sinsy: pysinsy, sung: pyworld). Run `bash models/data/setup.sh`, or pass "
                 "--allow-missing-voices to render without them (other songs than a full render).")
    if args.nice:
        os.nice(args.nice)
    t0 = time.time()
    songs = []
    for split, minutes in (("valid", args.minutes_valid), ("train", args.minutes_train)):
        songs += render_split(args.out, split, minutes, args.seed, args.jobs, args.min_seconds, args.max_seconds)
    songs.sort(key=lambda s: (s["split"], s["song_id"]))
    man = write_manifest(args.out, songs, args)
    print(json.dumps(man["splits"], indent=1))
    print(f"done in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()

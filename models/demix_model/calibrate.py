"""Mask shrinkage calibration: choose a in M' = a*M + (1-a)/S (masks pulled toward an even split)
on *train* songs, and write a checkpoint with ``mask_shrink`` set in its model config.

Because the ISTFT is linear, the stems with shrink a are a*est + (1-a)*mix/S, so one pass per song
scores every a on the grid. The choice is made on training songs only (every ``--every``-th), never
on the validation split it is later scored on.

    .venv/bin/demix-calibrate models/.runs/rb24/last.pt --out models/.runs/rb24/calibrated.pt
"""
import argparse
import os

import numpy as np
import torch

from .config import SAMPLE_RATE, STEMS
from .data import list_tracks, read_wav, _find
from .evaluate import sdr
from .export import load_net
from .train import separate, MODELS_DIR

GRID = tuple(round(1.0 - 0.05 * i, 2) for i in range(11))  # 1.0 ... 0.5


@torch.no_grad()
def shrink_scores(net, tracks, grid=GRID, max_seconds=None):
    """-> {a: {stem: median MDX SDR over tracks}} for the un-shrunk net's masks shrunk by each a."""
    per = {a: {s: [] for s in STEMS} for a in grid}
    for tr in tracks:
        stems = np.stack([read_wav(_find(tr, s)) for s in STEMS]).astype(np.float32)
        if max_seconds:
            stems = stems[..., :int(max_seconds * SAMPLE_RATE)]
        est = separate(net, torch.from_numpy(stems)[None])[0].double().numpy()
        ref = stems.astype(np.float64)
        mix = ref.sum(0)
        for a in grid:
            e = a * est + (1 - a) * mix[None] / len(STEMS)
            for k, s in enumerate(STEMS):
                if np.sum(ref[k] ** 2) >= 1e-6:  # silent reference: SDR undefined
                    per[a][s].append(sdr(ref[k], e[k]))
    return {a: {s: float(np.median(v)) if v else float("nan") for s, v in d.items()} for a, d in per.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ckpt")
    ap.add_argument("--songs", default=os.path.join(MODELS_DIR, ".data", "songs"))
    ap.add_argument("--every", type=int, default=19, help="use every N-th train song")
    ap.add_argument("--max-seconds", type=float, default=None)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    net, st = load_net(a.ckpt)
    net.cfg.mask_shrink = 1.0  # score the raw masks; the grid's a is the whole shrinkage
    net.eval()
    tracks = list_tracks(a.songs, "train")[::a.every]
    if not tracks:
        raise SystemExit(f"no train songs under {a.songs}")
    scores = shrink_scores(net, tracks, max_seconds=a.max_seconds)
    means = {k: float(np.mean(list(v.values()))) for k, v in scores.items()}
    for k in GRID:
        print(f"a={k:.2f}: " + " ".join(f"{s} {scores[k][s]:.2f}" for s in STEMS) + f"  mean {means[k]:.3f}")
    best = max(GRID, key=lambda k: means[k])
    print(f"chosen a = {best} on {len(tracks)} train songs (mean {means[best]:.3f} vs {means[1.0]:.3f} at a = 1)")
    out = dict(st, model_cfg=dict(st["model_cfg"], mask_shrink=best),
               calibration={"split": "train", "every": a.every, "tracks": [os.path.basename(t) for t in tracks],
                            "grid_mean_sdr": means, "mask_shrink": best})
    torch.save(out, a.out)
    print(f"wrote {a.out}")
    # returns None: a console script's sys.exit(value) would turn a float into exit status 1


if __name__ == "__main__":
    main()

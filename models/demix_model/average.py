"""Weight average of two training checkpoints' EMA weights (a "model soup").

    .venv/bin/demix-average A.pt B.pt --alpha 0.7 --out models/.runs/soup07/last.pt

writes alpha x B + (1 - alpha) x A. The output keeps B's metadata (model config, data ledger,
manifest hash), so demix-export and demix-card treat it like any checkpoint. B's ledger must already
include A's (true for a run started with `demix-train --init A`). A may lack B's stereo-feature
weights (B was trained from A with `--stereo-features`): they count as zero. Needs torch.
"""
import argparse
import os

import torch

from .config import ModelConfig
from .model import DemixNet


def weights(st, cfg=None):
    """A checkpoint's EMA (else model) weights, with the key names of the current DemixNet
    (older checkpoints name the single band group's tensors `w_in`, not `w_in.0`), loaded into
    `cfg` (default: its own): a checkpoint without stereo features gets zero stereo weights, the
    function it computes."""
    net = DemixNet(cfg or ModelConfig(**st["model_cfg"]))
    net.load_state_dict(st.get("ema") or st["model"])
    return net.state_dict()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--alpha", type=float, required=True, help="weight of B (0..1)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    a = torch.load(args.a, map_location="cpu", weights_only=False)
    b = torch.load(args.b, map_location="cpu", weights_only=False)
    ca, cb = (ModelConfig(**x["model_cfg"]).to_dict() for x in (a, b))
    if dict(ca, stereo_features=cb["stereo_features"]) != cb or (ca["stereo_features"] and not cb["stereo_features"]):
        raise SystemExit(f"different model configs: {ca} vs {cb}")
    cfg = ModelConfig(**b["model_cfg"])
    wa, wb = weights(a, cfg), weights(b, cfg)
    avg = {k: (1 - args.alpha) * wa[k] + args.alpha * wb[k] if wb[k].is_floating_point() else wb[k] for k in wb}
    out = dict(b, model=avg, ema=avg, opt=None, soup={"a": args.a, "b": args.b, "alpha": args.alpha})
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.save(out, args.out)
    print(f"{args.out}: {args.alpha} x {args.b} + {1 - args.alpha:g} x {args.a}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Re-band a checkpoint (see demix_model/reband.py): a starting point for a model with a new band
layout, with the old model's weights and data ledger.

    .venv/bin/python models/reband.py models/.runs/soup07/last.pt --bands 12x8,6x24,6x46 \
        --band-hidden 48 --out models/.data/init/reband.pt
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402

from demix_model.config import ModelConfig  # noqa: E402
from demix_model.export import load_net  # noqa: E402
from demix_model.reband import reband  # noqa: E402
from demix_model.train import parse_bands  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("ckpt")
ap.add_argument("--bands", required=True)
ap.add_argument("--band-hidden", type=int, default=None)
ap.add_argument("--out", required=True)
a = ap.parse_args()
old, st = load_net(a.ckpt)
oc = old.cfg
nc = ModelConfig(**dict(oc.to_dict(), band_groups=parse_bands(a.bands),
                        band_hidden=a.band_hidden or oc.band_hidden))
net = reband(old, nc)
sd = net.state_dict()
keep = {k: st[k] for k in ("ledger", "audio_seconds", "manifest_sha256") if k in st}
os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
torch.save(dict(keep, model=sd, ema=sd, model_cfg=nc.to_dict(), reband={"from": a.ckpt, "bands": a.bands}),
           a.out)
print(f"{a.out}: {nc.n_bands} bands {nc.groups}, band_hidden {nc.band_hidden}")

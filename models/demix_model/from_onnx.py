"""A trainable checkpoint from a shipped fp32 ONNX model (the weights the product runs).

Checkpoints are not committed; the fp32 export is. Its initializers hold every weight, some in
the form the exported step uses: the SSM projections transposed, -exp(A_log) instead of A_log,
and the output head with its mixture-consistency projection and calibration shrinkage folded in.
Those are undone here; the folded head is loaded with mask_shrink = 1, which computes exactly the
exported function (main() compares the step outputs with ONNX Runtime's and refuses otherwise).

    demix-from-onnx models/demix_fp32.onnx --out models/.data/init/shipped.pt \\
        --card models/MODEL_CARD.md --manifest models/training-manifest.json --ledger-prefix v7/
"""
import argparse
import functools

import numpy as np
import torch

from .config import ModelConfig
from .model import DemixNet
from .train import parse_bands


def _initializers(path):
    import onnx
    from onnx import numpy_helper
    m = onnx.load(path)
    return {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}, \
        {p.key: p.value for p in m.metadata_props}


def shipped_config(path, **kw) -> ModelConfig:
    """The shipped layout (dim 64, bands 12x8,6x24,6x46, band mixer 48), with stereo features when
    the export holds their weights; `kw` overrides."""
    init, _meta = _initializers(path)
    base = dict(dim=64, band_hidden=48, band_groups=((12, 8), (6, 24), (6, 46)),
                stereo_features=any(k.startswith("net.w_sp.") for k in init))
    return ModelConfig(**dict(base, **kw))


def load_from_onnx(path, cfg: ModelConfig) -> DemixNet:
    """DemixNet with the weights of the fp32 ONNX export at `path` (cfg must match its layout)."""
    init, _meta = _initializers(path)
    net = DemixNet(cfg)
    sd = net.state_dict()
    used = set()

    def take(name, value):
        v = torch.from_numpy(np.array(value)).to(sd[name].dtype)
        if tuple(v.shape) != tuple(sd[name].shape):
            raise ValueError(f"{name}: ONNX gives {tuple(v.shape)}, model wants {tuple(sd[name].shape)}")
        sd[name] = v

    for name in sd:  # weights exported under their own names
        if "net." + name in init:
            take(name, init["net." + name])
            used.add("net." + name)
    D, L = cfg.dim, cfg.layers
    n_in = 2 * cfg.inner + cfg.heads + 2 * cfg.d_state
    # SSM projections: exported as MatMul right-hand sides (transposed), in layer order
    mats = [k for k in init if k.startswith("onnx::MatMul_")]
    mats.sort(key=lambda k: int(k.rsplit("_", 1)[1]))
    ins = [k for k in mats if init[k].shape == (D, n_in)]
    outs = [k for k in mats if init[k].shape == (cfg.inner, D)]
    if len(ins) != L or len(outs) != L:
        raise ValueError(f"expected {L} in/out projections, found {len(ins)}/{len(outs)}")
    negs = sorted((k for k in init if k.startswith("/Neg") and init[k].shape == (cfg.heads,)),
                  key=lambda k: 0 if k == "/Neg_output_0" else int(k.split("_")[1]))
    if len(negs) != L:
        raise ValueError(f"expected {L} SSM decay vectors, found {negs}")
    for i in range(L):
        take(f"ssm.{i}.in_proj.weight", init[ins[i]].T)
        take(f"ssm.{i}.out_proj.weight", init[outs[i]].T)
        take(f"ssm.{i}.A_log", np.log(-init[negs[i]].astype(np.float64)))
        used.update((ins[i], outs[i], negs[i]))
    # head: the projected (and shrunk) weights; b minus the 1/S offset of every real part
    S = cfg.stems
    for g, (n, w) in enumerate(cfg.groups):
        W = [k for k in init if k not in used and init[k].shape == (n, D, S * 4 * w)]
        B = [k for k in init if k not in used and init[k].shape == (n, 1, S * 4 * w)]
        if len(W) != 1 or len(B) != 1:
            raise ValueError(f"head group {g}: ambiguous or missing weights {W} {B}")
        b = init[B[0]].reshape(n, 1, S, 2, 2, w).astype(np.float64).copy()
        b[..., :, 0, :] -= 1.0 / S
        take(f"w_out.{g}", init[W[0]])
        take(f"b_out.{g}", b.reshape(n, 1, S * 4 * w))
        used.update((W[0], B[0]))
    missing = [k for k in sd if "net." + k not in used and not any(u.endswith(k) for u in used)
               and not k.startswith(("ssm.", "w_out.", "b_out."))]
    if missing:
        raise ValueError(f"not found in {path}: {missing}")
    net.load_state_dict(sd)
    return net


def max_step_difference(net: DemixNet, path: str, frames: int = 6, seed: int = 0) -> float:
    """Largest difference between net.step and the ONNX model over a few random frames, relative
    to each output's size (the recurrent states grow to tens; float32 rounding differs)."""
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    rng = np.random.default_rng(seed)
    states = [s.numpy() for s in net.zero_states()]
    worst = 0.0
    net.eval()
    for _ in range(frames):
        spec = (rng.standard_normal((2, 2, 513)) * 0.1).astype(np.float32)
        feeds = dict(zip(names, [spec, *states]))
        ref = sess.run(None, feeds)
        with torch.no_grad():
            out = net.step(torch.from_numpy(spec), *[torch.from_numpy(s) for s in states])
        worst = max(worst, max(float(np.abs(a - b.numpy()).max() / max(1.0, np.abs(a).max()))
                                for a, b in zip(ref, out)))
        states = [o.numpy() for o in out[1:]]
    return worst


@functools.lru_cache(maxsize=None)
def _manifest(path):
    from .data import load_manifest
    return load_manifest(path)


def licences_of_ledger_song(name, manifest_path):
    """Licences of one song of a card's ledger. `name` is `[vN/...]<tag>:<split>/<track>`: a
    `vN/` prefix (the innermost one for nested, older releases) means release N's data,
    `training-manifest-vN.json` beside `manifest_path`; no prefix means `manifest_path` itself.
    A release manifest has a `songs` section (the generator's manifest) and a `records` one
    (`demix-records`), or one per render for a soup of runs on several (`records-g<N>`, named
    by `demix-average`); a plain generator manifest is the songs. -> list or None"""
    import os
    import re
    from .data import track_info_from_manifest
    parts = name.split("/")
    path = manifest_path
    while len(parts) > 1 and re.fullmatch(r"v\d+", parts[0]):
        path = os.path.join(os.path.dirname(manifest_path), f"training-manifest-{parts[0]}.json")
        parts = parts[1:]
    manifest = _manifest(path)
    tag, rest = "/".join(parts).split(":", 1)
    split, track = rest.split("/", 1)
    if isinstance(manifest, dict) and "description" in manifest:  # a release manifest
        manifest = manifest.get(tag if tag in manifest else "records" if tag == "records" else "songs")
    return track_info_from_manifest(manifest, split, track)


def ledger_from_card(card_path, manifest_path, prefix):
    """The data ledger of the model a card describes: per-song stem-seconds from the card's
    per-song table, licences from that release's manifest (and its predecessors',
    `licences_of_ledger_song`). Keys get `prefix` so that songs of a later dataset with the same
    names stay apart. -> (ledger, audio seconds of all its runs)"""
    import re
    from .config import STEMS
    led, audio_s = {}, 0.0
    for line in open(card_path, encoding="utf-8"):
        m = re.match(r"^- (?:Steps:|Weight average) .*audio seen \(mixture seconds, all runs[^)]*\): ([0-9.]+) h", line)
        if m:
            audio_s = float(m.group(1)) * 3600
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        # | song | stem-seconds | vocals | drums | bass | other | [accompaniment] |
        if len(cells) in (2 + len(STEMS), 3 + len(STEMS)) and re.match(r"^[\w/-]+:(train|valid)/", cells[0]):
            name = cells[0]
            nums = [float(c.replace(",", "")) for c in cells[1:]]
            lic = licences_of_ledger_song(name, manifest_path) or ["unknown"]
            led[prefix + name] = {"seconds": nums[0], "licences": lic,
                                  "per_stem": dict(zip(STEMS + ("accompaniment",), nums[1:]))}
    if not led:
        raise ValueError(f"{card_path}: no per-song ledger table found")
    return led, audio_s


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("onnx")
    ap.add_argument("--out", required=True)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--layers", type=int, default=ModelConfig.layers)
    ap.add_argument("--bands", default="12x8,6x24,6x46")
    ap.add_argument("--band-hidden", type=int, default=48)
    ap.add_argument("--card", default=None, help="carry the data ledger of this model card (the ONNX's)")
    ap.add_argument("--manifest", default=None, help="that card's release manifest (training-manifest.json of the same "
                    "release); songs of earlier releases (vN/...) are looked up in "
                    "training-manifest-vN.json beside it")
    ap.add_argument("--ledger-prefix", default="", help="prefix for the carried ledger's song names")
    a = ap.parse_args(argv)
    cfg = shipped_config(a.onnx, dim=a.dim, layers=a.layers, band_hidden=a.band_hidden,
                         band_groups=parse_bands(a.bands))
    net = load_from_onnx(a.onnx, cfg)
    diff = max_step_difference(net, a.onnx)
    print(f"max relative |step - onnx| over 6 frames: {diff:.2e}")
    if diff > 1e-4:
        raise SystemExit("the reconstructed model does not compute the ONNX model's function")
    _init, meta = _initializers(a.onnx)
    sd = net.state_dict()
    ledger, audio_s = {}, 0.0
    if a.card:
        ledger, audio_s = ledger_from_card(a.card, a.manifest, a.ledger_prefix)
        print(f"ledger of {a.card}: {len(ledger)} songs, {audio_s / 3600:.1f} h of audio")
    torch.save({"model": sd, "ema": sd, "model_cfg": cfg.to_dict(), "ledger": ledger, "audio_seconds": audio_s,
                "manifest_sha256": meta.get("demix.data_manifest_sha256", ""), "from_onnx": a.onnx}, a.out)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()

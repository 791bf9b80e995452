"""Training-step throughput on this machine: one step (separation, loss, backward, AdamW) of the
shipped model (layout and weights from the committed fp32 export) on a fixed random batch, for
each variant, the variants interleaved so that load from elsewhere hits them alike. Prints the
median step time, audio seconds per second, and the ratio to the first variant (the baseline).

  demix-trainbench                                  # eager vs torch.compile, chunk 32, 2 threads
  demix-trainbench --variants eager:32 eager:16 --threads 1
"""
import argparse
import os
import time

import numpy as np
import torch

from .config import SAMPLE_RATE
from .from_onnx import shipped_config, load_from_onnx
from .model import DemixNet
from .train import separate, training_loss, MODELS_DIR


def make_step(kind, chunk, cfg, state, sdr_weight, device="cpu"):
    """One training step's closure for a variant, from the same weights: 'eager', or 'compile'
    (the model's forward through torch.compile; the weights stay the module's own)."""
    net = DemixNet(cfg).to(device)
    net.load_state_dict(state)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-5, weight_decay=1e-4, betas=(0.9, 0.99))
    fwd = torch.compile(net) if kind == "compile" else net

    def step(ref):
        loss = training_loss(separate(fwd, ref, chunk), ref, sdr_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        return float(loss.detach())
    return step


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", nargs="+", default=["eager:32", "compile:32"],
                    help="KIND:CHUNK, KIND eager or compile; the first is the baseline")
    ap.add_argument("--onnx", default=os.path.join(MODELS_DIR, "demix_fp32.onnx"),
                    help="fp32 export whose layout and weights are trained")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seg", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu, or cuda on a GPU machine")
    ap.add_argument("--repeats", type=int, default=5, help="timed steps per variant")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps per variant (compilation)")
    ap.add_argument("--sdr-weight", type=float, default=0.1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = shipped_config(a.onnx)
    state = load_from_onnx(a.onnx, cfg).state_dict()
    rng = np.random.default_rng(0)
    L = int(a.seg * SAMPLE_RATE)
    ref = torch.from_numpy((0.1 * rng.standard_normal((a.batch, 4, 2, L))).astype(np.float32)).to(a.device)
    sync = torch.cuda.synchronize if a.device.startswith("cuda") else (lambda: None)
    variants = []
    for v in a.variants:
        kind, _, chunk = v.partition(":")
        if kind not in ("eager", "compile"):
            raise SystemExit(f"unknown variant kind {kind!r} (eager or compile)")
        variants.append((v, make_step(kind, int(chunk or 32), cfg, state, a.sdr_weight, a.device)))
    for name, step in variants:
        t0 = time.perf_counter()
        for _ in range(a.warmup):
            step(ref)
        print(f"{name}: {a.warmup} warm-up steps in {time.perf_counter() - t0:.1f} s", flush=True)
    times = {name: [] for name, _ in variants}
    for _ in range(a.repeats):
        for name, step in variants:
            sync()
            t0 = time.perf_counter()
            step(ref)
            sync()
            times[name].append(time.perf_counter() - t0)
    audio_s = a.batch * a.seg
    base = float(np.median(times[variants[0][0]]))
    print(f"batch {a.batch} x {a.seg} s, {a.device}, {a.threads} threads, {a.repeats} steps each (median):")
    for name, _ in variants:
        t = float(np.median(times[name]))
        print(f"  {name:12s} {t:6.2f} s/step  {audio_s / t:5.2f}x real time  ratio to {variants[0][0]}: {base / t:.2f}x")


if __name__ == "__main__":
    main()

"""Evaluation through onnxruntime, frame by frame from zero state (the plugin's streaming path),
and a single-thread step benchmark.

  demix-evaluate --bench                        # RTF + node counts, fp32 and int8
  demix-evaluate --songs models/.data/songs     # valid-split SDR/SI-SDR, fp32 and int8
"""
import argparse
import json
import os
import time

import numpy as np

from .config import SAMPLE_RATE, HOP, STEMS
from .export import OrtStepper, project, MODELS_DIR
from .stft import stft_np, istft_np


def sdr(ref, est, eps=1e-8):
    """MDX SDR: 10 log10(sum s^2 / sum (s - s_hat)^2) over channels and time."""
    return float(10 * np.log10((np.sum(ref ** 2) + eps) / (np.sum((ref - est) ** 2) + eps)))


def si_sdr(ref, est, eps=1e-8):
    """Scale-invariant SDR, averaged over channels."""
    vals = []
    for r, e in zip(ref, est):
        a = np.dot(e, r) / (np.dot(r, r) + eps)
        t = a * r
        vals.append(10 * np.log10((np.sum(t ** 2) + eps) / (np.sum((e - t) ** 2) + eps)))
    return float(np.mean(vals))


def separate_onnx(stepper, mix):
    """mix [2, N] -> stems [S, 2, N] through the ONNX step model (streaming, zero state)."""
    X = stft_np(mix)  # [2, T, bins]
    spec = np.stack([X.real, X.imag], axis=1).transpose(2, 0, 1, 3).astype(np.float32)  # [T,2,2,bins]
    masks = stepper.run(spec).astype(np.float64)  # [T, S, 2, 2, bins]
    M = masks[:, :, :, 0] + 1j * masks[:, :, :, 1]  # [T, S, 2, bins]
    Y = M * X.transpose(1, 0, 2)[:, None]  # [T, S, 2, bins]
    return istft_np(Y.transpose(1, 2, 0, 3), mix.shape[-1])  # [S, 2, N]


def evaluate(model_paths, songs_root, split="valid", max_seconds=None, log=print, tracks=None):
    from .data import list_tracks, read_wav, _find
    tracks = tracks or list_tracks(songs_root, split)
    if not tracks:
        raise FileNotFoundError(f"no {split} tracks under {songs_root}")
    res = {}
    for path in model_paths:
        st = OrtStepper(path)
        per = {s: {"sdr": [], "si_sdr": []} for s in STEMS}
        t0 = time.time()
        for tr in tracks:
            stems = np.stack([read_wav(_find(tr, s)) for s in STEMS]).astype(np.float64)
            if max_seconds:
                stems = stems[..., :int(max_seconds * SAMPLE_RATE)]
            mix = stems.sum(0)
            est = separate_onnx(st, mix)
            for k, s in enumerate(STEMS):
                if np.sum(stems[k] ** 2) < 1e-6:  # silent reference: SDR undefined, skip (MDX-style)
                    continue
                per[s]["sdr"].append(sdr(stems[k], est[k]))
                per[s]["si_sdr"].append(si_sdr(stems[k], est[k]))
        summ = {s: {m: float(np.median(v)) if v else float("nan") for m, v in d.items()} for s, d in per.items()}
        summ["mean"] = {m: float(np.mean([summ[s][m] for s in STEMS])) for m in ("sdr", "si_sdr")}
        res[os.path.basename(path)] = summ
        log(f"{os.path.basename(path)}: {len(tracks)} tracks in {time.time() - t0:.0f} s: " +
            ", ".join(f"{s} {summ[s]['sdr']:.2f}/{summ[s]['si_sdr']:.2f}" for s in list(STEMS) + ["mean"]) +
            "  (SDR/SI-SDR dB, median over tracks)")
    return res


def mixture_baseline(songs_root, split="valid", max_seconds=None, tracks=None):
    """Reference row: every stem estimated as mixture/4 (what the untrained model does)."""
    from .data import list_tracks, read_wav, _find
    tracks = tracks or list_tracks(songs_root, split)
    per = {s: [] for s in STEMS}
    for tr in tracks:
        stems = np.stack([read_wav(_find(tr, s)) for s in STEMS]).astype(np.float64)
        if max_seconds:
            stems = stems[..., :int(max_seconds * SAMPLE_RATE)]
        mix = stems.sum(0)
        for k, s in enumerate(STEMS):
            if np.sum(stems[k] ** 2) >= 1e-6:
                per[s].append(sdr(stems[k], mix / 4))
    return {s: float(np.median(v)) for s, v in per.items()}


def bench(path, steps=2000, threads=1):
    """Median single-step time (one thread, IOBinding, state kept on the binding) -> dict."""
    import onnx
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    ins = {i.name: np.zeros(i.shape, np.float32) for i in sess.get_inputs()}
    outs = {o.name: np.zeros(o.shape, np.float32) for o in sess.get_outputs()}
    spec = (rng.standard_normal(ins["spec"].shape) * 10).astype(np.float32)
    ins["spec"][...] = spec
    b = sess.io_binding()
    for n, v in ins.items():
        b.bind_cpu_input(n, v)
    for n, v in outs.items():
        b.bind_output(n, "cpu", 0, np.float32, list(v.shape), v.ctypes.data)
    times = []
    for i in range(steps):
        t0 = time.perf_counter()
        sess.run_with_iobinding(b)
        times.append(time.perf_counter() - t0)
        for n in ins:  # state_out -> state_in (a copy, as a host ring would)
            if n.startswith("state_in_"):
                ins[n][...] = outs["state_out_" + n[9:]]
    t = float(np.median(times[steps // 10:]))
    hop_s = HOP / SAMPLE_RATE
    return {"nodes": len(onnx.load(path).graph.node), "step_ms": t * 1e3, "rtf": t / hop_s,
            "p99_ms": float(np.percentile(times[steps // 10:], 99)) * 1e3,
            "size_mb": os.path.getsize(path) / 1e6}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=[os.path.join(MODELS_DIR, "demix_fp32.onnx"),
                                                    os.path.join(MODELS_DIR, "demix.onnx")])
    ap.add_argument("--songs", default=None, help="songs root (MUSDB layout); evaluates its --split")
    ap.add_argument("--split", default="valid")
    ap.add_argument("--max-seconds", type=float, default=None, help="evaluate the first N s of each track")
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--json", default=None, help="write results here")
    a = ap.parse_args(argv)
    out = {}
    if a.bench:
        for p in a.models:
            r = bench(p)
            out.setdefault("bench", {})[os.path.basename(p)] = r
            print(f"{os.path.basename(p)}: {r['nodes']} nodes, step {r['step_ms']:.3f} ms "
                  f"(p99 {r['p99_ms']:.3f}), RTF {r['rtf']:.4f} at hop {HOP} / {SAMPLE_RATE} Hz, "
                  f"{r['size_mb']:.2f} MB, 1 thread")
    if a.songs:
        out["eval"] = evaluate(a.models, a.songs, a.split, a.max_seconds)
        out["mixture_over_4"] = mixture_baseline(a.songs, a.split, a.max_seconds)
        print("mixture/4 baseline SDR:", json.dumps({k: round(v, 2) for k, v in out["mixture_over_4"].items()}))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()

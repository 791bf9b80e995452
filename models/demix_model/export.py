"""Export the single-step graph to ONNX (contract v1), quantize to int8, write fixtures.

  demix-export --ckpt models/.runs/<name>/best.pt      # -> demix_fp32.onnx, demix.onnx, fixtures
"""
import argparse
import json
import os
import sys

import numpy as np

from .config import (SAMPLE_RATE, N_FFT, HOP, BINS, STEMS, CONTRACT_VERSION, model_name,
                     ModelConfig)
from .data import manifest_sha256

MODELS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MANIFEST = os.path.join(MODELS_DIR, ".data", "songs", "manifest.json")


def metadata(manifest_sha, quantization, name):
    return {
        "demix.sample_rate": str(SAMPLE_RATE),
        "demix.n_fft": str(N_FFT),
        "demix.hop": str(HOP),
        "demix.window": "hann",
        "demix.stems": ",".join(STEMS),
        "demix.frames_per_call": "1",
        "demix.version": CONTRACT_VERSION,
        "demix.data_manifest_sha256": manifest_sha,
        "demix.name": name,
        "demix.quantization": quantization,
    }


def set_metadata(model_proto, meta):
    del model_proto.metadata_props[:]
    for k, v in meta.items():
        e = model_proto.metadata_props.add()
        e.key, e.value = k, v


def export_fp32(net, path, meta):
    import torch
    import onnx
    from .model import StepWrapper
    net = net.eval().float()
    names = net.state_names()
    spec = torch.zeros(2, 2, BINS)
    states = tuple(net.zero_states())
    tmp = path + ".tmp"
    with torch.no_grad():
        torch.onnx.export(StepWrapper(net), (spec, *states), tmp, dynamo=False, opset_version=17,
                          input_names=["spec"] + [f"state_in_{n}" for n in names],
                          output_names=["mask"] + [f"state_out_{n}" for n in names],
                          do_constant_folding=True)
    # fold everything that depends only on weights (head projection, A = -exp(A_log), pads,
    # shape constants) and drop Identity nodes: ORT's basic, hardware-independent level.
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    so.optimized_model_filepath = tmp + ".opt"
    ort.InferenceSession(tmp, so, providers=["CPUExecutionProvider"])
    m = onnx.load(tmp + ".opt")
    os.remove(tmp)
    os.remove(tmp + ".opt")
    set_metadata(m, meta)
    m.producer_name = "demix"
    for o in list(m.opset_import):
        if o.domain not in ("", "ai.onnx"):
            m.opset_import.remove(o)
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return m


QUANT_NAMES = {"weights": "int8-weights", "dynamic": "int8-dynamic", "qdq": "int8-qdq"}


def quantize_weights(model):
    """Weight-only int8, in place: every MatMul/Gemm weight initializer is stored as int8 with an
    fp32 scale per output column (per band and column for the band-batched weights [G, K, N]),
    symmetric (zero point 0, range ±127); the graph casts it back and multiplies by the scale.
    Activations stay fp32, and ONNX Runtime folds the Cast and Mul into an fp32 weight at load,
    so it runs at the fp32 graph's speed. Returns the number of weights quantized."""
    from onnx import numpy_helper, helper, TensorProto
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    uses = {}
    for n in g.node:
        for x in n.input:
            uses[x] = uses.get(x, 0) + 1
    done = []
    for n in g.node:
        if n.op_type not in ("MatMul", "Gemm") or len(n.input) < 2:
            continue
        name = n.input[1]
        if name not in inits or uses[name] != 1:
            continue
        w = numpy_helper.to_array(inits[name]).astype(np.float32)
        trans_b = n.op_type == "Gemm" and any(a.name == "transB" and a.i == 1 for a in n.attribute)
        # Reduce over the input axis K: [..., K, N] for MatMul/Gemm, [N, K] for a transposed Gemm.
        amax = np.max(np.abs(w), axis=-1 if trans_b else -2, keepdims=True)
        scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
        q = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
        g.initializer.remove(inits[name])
        g.initializer.extend([numpy_helper.from_array(q, name + "_int8"),
                              numpy_helper.from_array(scale, name + "_scale")])
        cast = helper.make_node("Cast", [name + "_int8"], [name + "_cast"], to=TensorProto.FLOAT, name=name + "_cast")
        mul = helper.make_node("Mul", [name + "_cast", name + "_scale"], [name + "_deq"], name=name + "_dequant")
        n.input[1] = name + "_deq"
        done.append((n, cast, mul))
    for n, cast, mul in done:
        i = list(g.node).index(n)
        g.node.insert(i, mul)
        g.node.insert(i, cast)
    return len(done)


def quantize_int8(fp32_path, out_path, meta, mode="weights", calib=None):
    """mode 'weights': weight-only int8 (see `quantize_weights`), activations fp32.
    mode 'dynamic': MatMul weights int8 (per-tensor), activations quantized at run time.
    mode 'qdq': static QDQ on MatMul only, calibrated on `calib` (list of feed dicts)."""
    import onnx
    from onnxruntime.quantization import quantize_dynamic, quantize_static, QuantType, QuantFormat
    from onnxruntime.quantization import CalibrationDataReader
    tmp = out_path + ".q.tmp"
    if mode == "weights":
        m = onnx.load(fp32_path)
        if quantize_weights(m) == 0:
            raise ValueError(f"{fp32_path}: no MatMul/Gemm weight to quantize")
        onnx.checker.check_model(m)
        onnx.save(m, tmp)
    elif mode == "dynamic":
        quantize_dynamic(fp32_path, tmp, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                         per_channel=False)
    else:
        class Reader(CalibrationDataReader):
            def __init__(self, feeds):
                self.it = iter(feeds)

            def get_next(self):
                return next(self.it, None)
        quantize_static(fp32_path, tmp, Reader(calib), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=["MatMul"], activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8, per_channel=False)
    m = onnx.load(tmp)
    os.remove(tmp)
    set_metadata(m, meta)
    onnx.save(m, out_path)
    return m


# ----------------------------------------------------------------------------- ORT helpers
class OrtStepper:
    """Runs a contract model frame by frame, carrying the state (zeros at start)."""

    def __init__(self, path, threads=1):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        self.state_inputs = [i for i in self.sess.get_inputs() if i.name.startswith("state_in_")]
        self.reset()

    def reset(self):
        self.state = {i.name: np.zeros(i.shape, np.float32) for i in self.state_inputs}

    def __call__(self, spec):
        feed = {"spec": np.ascontiguousarray(spec, dtype=np.float32), **self.state}
        outs = self.sess.run(None, feed)
        names = [o.name for o in self.sess.get_outputs()]
        res = dict(zip(names, outs))
        for i in self.state_inputs:
            self.state[i.name] = res["state_out_" + i.name[len("state_in_"):]]
        return res["mask"]

    def run(self, specs):
        """specs [T, 2, 2, bins] -> masks [T, S, 2, 2, bins] (projected), from zero state."""
        self.reset()
        return np.stack([project(self(s)) for s in specs])


def project(mask):
    """Host-side mixture-consistency projection (contract): M_s += (1 - sum_s M_s) / S."""
    mask = np.array(mask, dtype=np.float32, copy=True)
    S = mask.shape[0]
    tot = mask.sum(0)
    one = np.zeros_like(tot)
    one[:, 0, :] = 1.0
    return mask + (one - tot)[None] / S


# ----------------------------------------------------------------------------- fixtures
FIXTURE_LAYOUT = ("little-endian float32, concatenated: spec [T,2,2,bins], then "
                  "fp32 model projected masks [T,stems,2,2,bins], then int8 model projected masks "
                  "[T,stems,2,2,bins]; frames consecutive from zero state")


def reference_input(frames=8, audio=None, offset_s=None):
    """Spectra of T consecutive frames from a real audio excerpt (stereo float, 44.1 kHz).
    The frames are taken from the start of the excerpt's STFT (zero-padded start, as the host)."""
    from .stft import stft_np
    if audio is None:
        rng = np.random.default_rng(0)
        n = np.arange(HOP * frames)
        audio = np.stack([0.3 * np.sin(2 * np.pi * 220 * n / SAMPLE_RATE) + 0.05 * rng.standard_normal(n.size),
                          0.3 * np.sin(2 * np.pi * 330 * n / SAMPLE_RATE) + 0.05 * rng.standard_normal(n.size)])
    X = stft_np(audio[:, :HOP * frames])[:, :frames]  # [2, T, bins]
    spec = np.stack([X.real, X.imag], axis=1)  # [2, 2, T, bins]
    return np.ascontiguousarray(spec.transpose(2, 0, 1, 3)).astype(np.float32)  # [T, 2, 2, bins]


def write_fixtures(fixdir, fp32_path, int8_path, spec, tol_int8=None, source="synthetic"):
    os.makedirs(fixdir, exist_ok=True)
    m32 = OrtStepper(fp32_path).run(spec)
    m8 = OrtStepper(int8_path).run(spec)
    drift = float(np.abs(m8 - m32).max())
    if tol_int8 is None:
        tol_int8 = float(max(1e-3, 2.0 * drift))  # int8 kernels differ between CPUs; generous margin
    T = spec.shape[0]
    with open(os.path.join(fixdir, "reference.bin"), "wb") as f:
        f.write(spec.astype("<f4").tobytes())
        f.write(m32.astype("<f4").tobytes())
        f.write(m8.astype("<f4").tobytes())
    ref = {"frames": int(T), "bins": BINS, "stems": len(STEMS), "state_zero_start": True,
           "models": {os.path.basename(fp32_path): {"tolerance": 1e-4},
                      os.path.basename(int8_path): {"tolerance": round(tol_int8, 6)}},
           "layout": FIXTURE_LAYOUT, "input_source": source,
           "int8_vs_fp32_max_abs_diff": drift}
    with open(os.path.join(fixdir, "reference.json"), "w") as f:
        json.dump(ref, f, indent=2)
        f.write("\n")
    return ref


def load_net(ckpt):
    import torch
    from .model import DemixNet
    if ckpt is None:
        torch.manual_seed(0)
        net = DemixNet(ModelConfig())
        return net, {}
    st = torch.load(ckpt, map_location="cpu", weights_only=False)
    cfg = ModelConfig(**st["model_cfg"])
    net = DemixNet(cfg)
    net.load_state_dict(st["ema"] if st.get("ema") else st["model"])
    return net, st


def fixture_audio(songs_root):
    """A real excerpt for the fixtures: the first valid mixture with signal, 8 frames in a
    loud region (returns stereo float array and a description)."""
    from .data import list_tracks, read_wav
    for split in ("valid", "train"):
        tracks = list_tracks(songs_root, split) if songs_root and os.path.isdir(songs_root) else []
        for tr in tracks:
            try:
                x = read_wav(os.path.join(tr, "mixture.wav"))
            except Exception:
                continue
            # loudest 0.5 s region
            win = SAMPLE_RATE // 2
            if x.shape[1] < 2 * win:
                continue
            e = np.convolve((x ** 2).sum(0), np.ones(win), "valid")[::HOP]
            i = int(np.argmax(e)) * HOP
            return x[:, i:i + 8 * HOP].astype(np.float64), f"{os.path.relpath(tr, songs_root)}/mixture.wav @ {i} samples"
    return None, "synthetic (two sines + noise): no dataset on disk"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default=None, help="training checkpoint (default: untrained, seed 0)")
    ap.add_argument("--out-dir", default=MODELS_DIR)
    ap.add_argument("--manifest", default=None,
                    help="the data manifest the metadata names (sha256 of its bytes); a release "
                         "names models/training-manifest.json. Default: the checkpoint's, else "
                         f"{os.path.relpath(DEFAULT_MANIFEST, MODELS_DIR)}")
    ap.add_argument("--songs", default=os.path.join(MODELS_DIR, ".data", "songs"))
    ap.add_argument("--quant", default="weights", choices=list(QUANT_NAMES),
                    help="weights: int8 weights, fp32 activations (default; ~fp32 quality); "
                         "dynamic: int8 weights and run-time int8 activations; qdq: static QDQ")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--name", default=None,
                    help="`demix.name` (shown in the GUI, titles the model card); default: the "
                         "layout's name (config.model_name)")
    a = ap.parse_args(argv)
    if a.manifest and not os.path.isfile(a.manifest):
        ap.error(f"--manifest {a.manifest}: no such file")
    net, st = load_net(a.ckpt)
    sha = manifest_sha256(a.manifest) if a.manifest else \
        st.get("manifest_sha256") or manifest_sha256(DEFAULT_MANIFEST)
    os.makedirs(a.out_dir, exist_ok=True)
    fp32 = os.path.join(a.out_dir, "demix_fp32.onnx")
    int8 = os.path.join(a.out_dir, "demix.onnx")
    name = a.name or model_name(net.cfg)
    export_fp32(net, fp32, metadata(sha, "fp32", name))
    calib = None
    if a.quant == "qdq":
        audio, _ = fixture_audio(a.songs)
        spec = reference_input(64, audio)
        stp = OrtStepper(fp32)
        calib = []
        for s in spec:
            calib.append({"spec": s, **{k: v.copy() for k, v in stp.state.items()}})
            stp(s)
    quantize_int8(fp32, int8, metadata(sha, QUANT_NAMES[a.quant], name),
                  mode=a.quant, calib=calib)
    audio, src = fixture_audio(a.songs)
    spec = reference_input(a.frames, audio)
    ref = write_fixtures(os.path.join(a.out_dir, "fixtures"), fp32, int8, spec, source=src)
    import onnx
    for p in (fp32, int8):
        m = onnx.load(p)
        print(f"{os.path.basename(p)}: {len(m.graph.node)} nodes, {os.path.getsize(p) / 1e6:.2f} MB")
    print("fixtures:", json.dumps(ref["models"]), "int8 drift", ref["int8_vs_fp32_max_abs_diff"], "input:", src)


if __name__ == "__main__":
    main()

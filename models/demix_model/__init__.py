"""demix model package: MSNet-lite streaming separator (training, export, evaluation).

Modules:
  config   - contract constants and the model hyper-parameters
  stft     - the contract's STFT/ISTFT in numpy and torch (host-side, never in the graph)
  model    - the network: full-sequence (training) and single-step (export) paths
  data     - MUSDB18-HQ-layout loader, packing, random-mix augmentation, data ledger
  train    - training loop (CPU or GPU), checkpoints, resumable
  trainbench - training-step throughput, variants against a baseline in the same run
  export   - ONNX export (fp32), int8 quantization, metadata, reference fixtures
  evaluate - valid-set SDR/SI-SDR through onnxruntime step by step, RTF benchmark
"""

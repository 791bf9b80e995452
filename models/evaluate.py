#!/usr/bin/env python3
"""Entry point: valid-set SDR through onnxruntime + RTF benchmark. See demix_model/evaluate.py."""
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from demix_model.evaluate import main
main()

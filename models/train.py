#!/usr/bin/env python3
"""Entry point: training. See demix_model/train.py (python models/train.py --help)."""
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from demix_model.train import main
main()

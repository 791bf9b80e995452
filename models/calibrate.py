#!/usr/bin/env python3
"""Entry point: mask shrinkage calibration on train songs. See demix_model/calibrate.py."""
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from demix_model.calibrate import main
main()

#!/usr/bin/env python3
"""Entry point: export + quantize + fixtures. See demix_model/export.py."""
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from demix_model.export import main
main()

#!/usr/bin/env python3
"""Entry point: write MODEL_CARD.md. See demix_model/card.py."""
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from demix_model.card import main
main()

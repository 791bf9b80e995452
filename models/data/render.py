#!/usr/bin/env python3
"""Entry point: `.venv/bin/python models/data/render.py --out models/.data/songs ...`
(same as `python -m demix_data.render` with models/data on PYTHONPATH)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from demix_data.render import main  # noqa: E402

if __name__ == "__main__":
    main()

"""Puts this folder on ``sys.path`` so the assignment tests can import ``notebook_cells``.

Tests run with ``--import-mode=importlib`` (no packages under tests/).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

"""paperlib: the shared library behind the paper-notebooks reproductions.

Models, data, a training engine, metrics and the record/runner machinery that the ten
paper notebooks call. See README.md and docs/CONTRACT.md.
"""
from pathlib import Path

__version__ = "0.1.0"

#: repository root (the folder holding notebooks/, figures/, paperlib/)
REPO_ROOT = Path(__file__).resolve().parents[1]

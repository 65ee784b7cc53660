"""Kept for old imports: the runner now lives in the package :mod:`paperlib.runner` (one module per job)."""
from .runner import *  # noqa: F401,F403
from .runner import __all__  # noqa: F401

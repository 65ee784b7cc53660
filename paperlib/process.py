"""Process helpers every layer may use (standard library only)."""
from __future__ import annotations

import sys


def die_with_parent() -> None:
    """Call in a child process (a pool worker's initializer): on Linux the child gets SIGTERM when its
    parent dies (kill -9 included), so no orphaned worker keeps computing -- and holding CPU, an output
    lock or a half-written cache -- after the runner, a kernel or a sweep driver was killed. A no-op
    elsewhere (no portable equivalent)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover
            pass

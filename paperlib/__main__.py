"""``python -m paperlib run|list|report`` (see paperlib.runner)."""
from .runner.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

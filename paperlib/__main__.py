"""``python -m paperlib run|list|report`` (see paperlib.run)."""
from .run import main

if __name__ == "__main__":
    raise SystemExit(main())

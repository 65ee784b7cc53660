"""Per-paper experiment recipes (training/evaluation procedures built on paperlib.engine)."""

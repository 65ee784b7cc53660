"""paperlib.metrics: complexity, statistics, and per-paper metrics."""
from .complexity import complexity

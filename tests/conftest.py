import os
import tempfile
from pathlib import Path

import pytest

# Generated data for tests goes to one shared cache (reused across tests of a session).
os.environ.setdefault("PAPERLIB_DATA", str(Path(tempfile.gettempdir()) / "paperlib-test-data"))
os.environ.setdefault("PAPERLIB_HEADLESS", "1")


def pytest_collection_modifyitems(config, items):
    import torch

    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA device")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)
    skip_paper = pytest.mark.skip(reason="paper-scale recipe; run by hand with -m paper")
    if "paper" not in (config.getoption("-m") or ""):
        for item in items:
            if "paper" in item.keywords:
                item.add_marker(skip_paper)


@pytest.fixture(scope="module")
def one_thread():
    """Small models: one torch thread is fastest (and robust) on a shared 2-core machine. Use with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

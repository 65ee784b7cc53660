"""Committed notebooks are clean: outputs stripped, one parameters cell of literals, kernelspec python3.

The checks live in :func:`paperlib.runner.hygiene_problems`; the planted notebooks below prove that
each check catches what it should.
"""
from __future__ import annotations

from dataclasses import dataclass

import nbformat
import pytest

from paperlib import REPO_ROOT
from paperlib.config import PAPERS, PaperSpec
from paperlib.runner import hygiene_problems

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
PARAMS_SRC = 'profile = "default"\nseed = 0\ndevice = "auto"\ndata_root = None\noverrides = {}\nout_dir = None'


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebook_is_clean(path):
    problems = hygiene_problems(path)
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


def test_every_registered_paper_notebook_name_matches():
    """A notebook's file stem is its slug; a slug with a notebook is registered (checked above)."""
    for path in NOTEBOOKS:
        assert path.stem in PAPERS, f"{path.name} is not registered in paperlib/configs/"
        assert path.stem[:2].isdigit() and path.stem[2] == "_", path.name


# ----------------------------------------------------------------------- the checker itself


@dataclass
class _C:
    epochs: int = 1


FAKE = {"01_alpha": PaperSpec("01_alpha", "Alpha", _C, {"ci": {}})}


def _nb(tmp_path, params=PARAMS_SRC, cells=("x = 1",), name="01_alpha", tag=True, first=True,
        kernel="python3"):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": "Python 3", "language": "python"}
    p = nbformat.v4.new_code_cell(params)
    if tag:
        p.metadata["tags"] = ["parameters"]
    body = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.cells = [nbformat.v4.new_markdown_cell("# t")] + ([p] + body if first else body + [p])
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    return path


def test_checker_accepts_a_clean_notebook(tmp_path):
    assert hygiene_problems(_nb(tmp_path), FAKE) == []
    literals = PARAMS_SRC.replace("overrides = {}", 'overrides = {"epochs": 2, "widths": [8, -16], "x": None}')
    assert hygiene_problems(_nb(tmp_path, params=literals), FAKE) == []


@pytest.mark.parametrize("kwargs, expected", [
    (dict(name="99_unknown"), "not registered"),
    (dict(kernel="python"), "kernelspec name must be 'python3'"),
    (dict(tag=False), "exactly one cell tagged 'parameters', found 0"),
    (dict(first=False), "must be the first code cell"),
    (dict(cells=("!pip install torch",)), "no pip"),
    (dict(cells=("%pip install timm",)), "no pip"),
    (dict(params=PARAMS_SRC + "\nepochs = 3"), "exactly profile, seed, device, data_root, overrides, out_dir"),
    (dict(params=PARAMS_SRC.replace("out_dir = None\n", "").replace("\nout_dir = None", "")),
     "exactly profile, seed, device, data_root, overrides, out_dir"),
    (dict(params=PARAMS_SRC.replace("seed = 0", "seed = int('1')")), "seed is not a literal"),
    (dict(params=PARAMS_SRC.replace("overrides = {}", "overrides = dict(a=1)")), "overrides is not a literal"),
    (dict(params=PARAMS_SRC + "\nimport os"), "only `name = literal` assignments"),
    (dict(params=PARAMS_SRC.replace("seed = 0", "seed: int = 0")), "only `name = literal` assignments"),
])
def test_checker_catches(tmp_path, kwargs, expected):
    problems = hygiene_problems(_nb(tmp_path, **kwargs), FAKE)
    assert any(expected in p for p in problems), problems


def test_checker_catches_outputs_and_two_parameter_cells(tmp_path):
    path = _nb(tmp_path)
    nb = nbformat.read(str(path), as_version=4)
    nb.cells[2].execution_count = 3
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1")]
    extra = nbformat.v4.new_code_cell("seed = 1")
    extra.metadata["tags"] = ["parameters"]
    nb.cells.append(extra)
    nbformat.write(nb, str(path))
    problems = "\n".join(hygiene_problems(path, FAKE))
    assert "outputs not stripped" in problems
    assert "execution_count is 3" in problems
    assert "found 2" in problems

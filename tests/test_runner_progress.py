"""Issue 18: headless runs show which paper, which section, cell i/N, elapsed, time left, and end with
a summary table; `--verbose` streams the notebook's own log lines."""
from __future__ import annotations

import io
import json
import subprocess
import sys

import nbformat
import pytest

from paperlib import REPO_ROOT
from paperlib import runner as R
from paperlib.runner.progress import Monitor, clock, time_left

from test_runner import PARAMS_SRC, fake  # noqa: F401  (fixture + helpers)

BODY = """\
import json, pathlib
out = pathlib.Path(out_dir) / SLUG
out.mkdir(parents=True, exist_ok=True)
(out / "results.json").write_text(json.dumps({"paper": SLUG, "claims": [{"verdict": "held"},
    {"verdict": "inconclusive"}], "provenance": {"data": {}}}))
"""


def _sectioned(path, slug):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    p = nbformat.v4.new_code_cell(PARAMS_SRC)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# A planted paper"), p,
                nbformat.v4.new_markdown_cell("## Table 3 - cardinality at equal complexity\n\ntext"),
                nbformat.v4.new_code_cell(f"SLUG = {slug!r}\nprint('hello from the kernel', flush=True)"),
                nbformat.v4.new_markdown_cell("## Figure 5 - curves"),
                nbformat.v4.new_code_cell(BODY)]
    nbformat.write(nb, str(path))


def test_time_left_and_clock():
    assert time_left([1.0, 2.0, 3.0], 2, 3, 0.5) == 1.5 + 3.0
    assert time_left([1.0, 2.0, 3.0], 2, 3, 9.0) == 3.0  # a slow cell: never negative
    assert time_left([1.0, 2.0], 2, 3, 0.0) is None  # the notebook changed its cell count
    assert time_left(None, 1, 3, 0.0) is None
    assert clock(75) == "1:15" and clock(3725) == "1:02:05"


@pytest.mark.notebook
def test_plain_lines_per_section_verbose_log_and_summary(fake):
    papers, layout = fake
    _sectioned(layout.notebook("01_alpha"), "01_alpha")
    buf = io.StringIO()
    assert R.run_papers(["alpha"], profile="ci", papers=papers, layout=layout, stream=buf, verbose=True) == 0
    out = buf.getvalue()
    assert "\r" not in out
    lines = out.splitlines()
    sec = [ln for ln in lines if ln.startswith("[01_alpha] ") and " — cell " in ln]
    for heading in ("A planted paper", "Table 3 - cardinality at equal complexity", "Figure 5 - curves"):
        assert any(ln.startswith(f"[01_alpha] {heading} — cell ") and " elapsed" in ln for ln in sec), out
    assert any(ln == "[01_alpha] hello from the kernel" for ln in lines), out  # --verbose
    assert "left" not in "".join(sec)  # no earlier run: no estimate
    # ends with the summary table
    head = next(i for i, ln in enumerate(lines) if ln.startswith("paper "))
    assert lines[head].split()[:2] == ["paper", "status"] and "executed notebook" in lines[head]
    row = lines[head + 2].split()
    assert row[:5] == ["01_alpha", "ok", "1", "0", "1"]
    # a second run (forced) estimates the time left from the first one's per-cell times
    entry = R.read_cache(layout, "ci", "01_alpha")
    assert len(entry["cell_seconds"]) == 7  # 6 cells + papermill's injected parameters
    buf = io.StringIO()
    assert R.run_papers(["alpha"], profile="ci", papers=papers, layout=layout, stream=buf, force=True) == 0
    assert "left" in buf.getvalue() and "hello from the kernel" not in buf.getvalue()
    # skipped: the table says so
    buf = io.StringIO()
    assert R.run_papers(["alpha"], profile="ci", papers=papers, layout=layout, stream=buf) == 0
    assert "01_alpha  skipped (unchanged)" in buf.getvalue()


def test_monitor_on_a_terminal_updates_bars(tmp_path, capsys):
    prog, log = tmp_path / "p.jsonl", tmp_path / "l.log"
    prog.write_text(json.dumps({"t": 1.0, "cell": 1, "of": 3, "heading": "Table 1"}) + "\n")
    log.write_text("")
    job = {"slug": "01_alpha", "progress": str(prog), "log": str(log), "past_cell_seconds": [1, 1, 1]}
    said = []
    with Monitor([job], said.append, tty=True, interval=0.05) as m:
        m.done("01_alpha")
    assert said == []  # on a terminal: bars (stderr), no plain lines
    assert "Table 1" in capsys.readouterr().err


@pytest.mark.notebook
def test_cli_log_has_a_line_per_section_and_the_summary(tmp_path):
    """`python -m paperlib run 04_panoptic_segmentation --profile ci --force --out DIR > log`."""
    slug = "04_panoptic_segmentation"
    log = tmp_path / "log"
    with open(log, "w") as f:
        p = subprocess.run([sys.executable, "-m", "paperlib", "run", slug, "--profile", "ci", "--force",
                            "--out", str(tmp_path / "out")], cwd=REPO_ROOT, stdout=f, stderr=subprocess.PIPE,
                           text=True, timeout=900)
    text = log.read_text()
    assert p.returncode == 0, text[-3000:] + p.stderr[-3000:]
    assert "\r" not in text
    nb = nbformat.read(str(REPO_ROOT / "notebooks" / f"{slug}.ipynb"), as_version=4)
    headings = [R.execute.heading_of(c) for c in nb.cells]
    headings = [h for h in headings if h]
    assert len(headings) >= 3
    for h in headings:
        assert f"[{slug}] {h} — cell " in text, h
    lines = text.rstrip().splitlines()
    assert lines[-3].startswith("paper ") and lines[-1].split()[:2] == [slug, "ok"]

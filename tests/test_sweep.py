"""paperlib.sweep: caching, resumption after interruption, failure records, backends."""
import sys
import json
from pathlib import Path

import pytest

from paperlib.sweep import (code_version, example_job, fn_path, job_key, load_records, run_sweep,
                            summarize)

FN = "paperlib.sweep:example_job"


def _configs(marker, n=5, fail=()):
    return [{"x": i, "marker_dir": str(marker), **({"fail": True} if i in fail else {})} for i in range(n)]


def _executions(marker):
    return sorted(p.name.split("_")[0] for p in Path(marker).iterdir()) if Path(marker).exists() else []


def test_keys_and_code_version(tmp_path):
    k1 = job_key(FN, {"a": 1, "b": [1, 2]}, "d", "c")
    assert k1 == job_key(example_job, {"b": [1, 2], "a": 1}, "d", "c")       # order-free, fn or path
    assert k1 != job_key(FN, {"a": 1, "b": [1, 2]}, "d2", "c")               # data hash in key
    assert k1 != job_key(FN, {"a": 1, "b": [1, 2]}, "d", "c2")               # code version in key
    assert k1 != job_key(FN, {"a": 2, "b": [1, 2]}, "d", "c")
    (tmp_path / "m.py").write_text("x = 1\n")
    v1 = code_version(tmp_path)
    (tmp_path / "m.py").write_text("x = 2\n")
    assert code_version(tmp_path) != v1
    assert len(code_version()) == 16
    with pytest.raises(ValueError):
        fn_path(lambda c: c)


def test_interrupted_sweep_resumes_only_missing(tmp_path):
    marker, cache = tmp_path / "marker", tmp_path / "cache"
    cfgs = _configs(marker)
    # "interrupted" after 3 of 5 jobs
    part = run_sweep(FN, cfgs, cache, backend="serial", code="t", max_jobs=3, verbose=False)
    assert [r["status"] for r in part] == ["ok"] * 3 + ["missing"] * 2
    assert _executions(marker) == ["x0", "x1", "x2"]
    # a stray partial temp file (job killed mid-write) is ignored
    (cache / ".deadbeef.json.1.2.tmp").write_text("{")
    (cache / "0123456789abcdef01234567.json").write_text("{not json")
    full = run_sweep(FN, cfgs, cache, backend="serial", code="t", verbose=False)
    assert [r["status"] for r in full] == ["ok"] * 5
    assert [r["result"]["y"] for r in full] == [0, 1, 4, 9, 16]
    assert [r["cached"] for r in full] == [True] * 3 + [False] * 2
    assert _executions(marker) == ["x0", "x1", "x2", "x3", "x4"]        # each job ran exactly once
    again = run_sweep(FN, cfgs, cache, backend="serial", code="t", verbose=False)
    assert all(r["cached"] for r in again) and len(_executions(marker)) == 5
    # a new code version re-runs everything
    run_sweep(FN, cfgs[:1], cache, backend="serial", code="t2", verbose=False)
    assert len(_executions(marker)) == 6
    assert len(load_records(cache)) == 6


def test_failing_job_recorded_not_fatal(tmp_path, capsys):
    marker, cache = tmp_path / "marker", tmp_path / "cache"
    cfgs = _configs(marker, n=3, fail={1})
    recs = run_sweep(FN, cfgs, cache, backend="serial", code="t")
    assert [r["status"] for r in recs] == ["ok", "failed", "ok"]
    assert "ValueError: job x=1 asked to fail" in recs[1]["error"]
    assert "Traceback" in recs[1]["traceback"] and "example_job" in recs[1]["traceback"]
    on_disk = json.loads((cache / f"{recs[1]['key']}.json").read_text())
    assert on_disk["status"] == "failed" and on_disk["error"] == recs[1]["error"]
    out = capsys.readouterr().out
    assert "failed" in out and "asked to fail" in out
    s = summarize(recs)
    assert (s["ok"], s["failed"], s["missing"]) == (2, 1, 0)
    # cached failure is not re-run by default, is with retry_failed
    run_sweep(FN, cfgs, cache, backend="serial", code="t", verbose=False)
    assert len(_executions(marker)) == 3
    run_sweep(FN, cfgs, cache, backend="serial", code="t", verbose=False, retry_failed=True)
    assert len(_executions(marker)) == 4


def test_local_pool_spawn(tmp_path):
    marker, cache = tmp_path / "marker", tmp_path / "cache"
    cfgs = _configs(marker, n=4, fail={3})
    recs = run_sweep(FN, cfgs, cache, backend="local", workers=2, code="t", verbose=False)
    assert [r["status"] for r in recs] == ["ok", "ok", "ok", "failed"]
    assert [r["result"]["y"] for r in recs[:3]] == [0, 1, 4]
    import os
    assert all(r["pid"] != os.getpid() for r in recs)                  # ran in worker processes
    assert all(r["result"]["omp_threads"] == "1" for r in recs[:3])    # one thread per worker
    recs2 = run_sweep(FN, cfgs, cache, backend="local", workers=2, code="t", verbose=False)
    assert all(r["cached"] for r in recs2) and len(_executions(marker)) == 4


def test_submitit_debug_executor(tmp_path):
    pytest.importorskip("submitit")
    marker, cache = tmp_path / "marker", tmp_path / "cache"
    cfgs = _configs(marker, n=3, fail={2})
    part = run_sweep(FN, cfgs, cache, backend="submitit_debug", code="t", max_jobs=1, verbose=False)
    assert [r["status"] for r in part] == ["ok", "missing", "missing"]
    recs = run_sweep(FN, cfgs, cache, backend="submitit_debug", code="t", verbose=False)
    assert [r["status"] for r in recs] == ["ok", "ok", "failed"]
    assert "asked to fail" in recs[2]["error"]
    assert _executions(marker) == ["x0", "x1", "x2"]


def test_submitit_local_executor(tmp_path):
    pytest.importorskip("submitit")
    marker, cache = tmp_path / "marker", tmp_path / "cache"
    cfgs = _configs(marker, n=2, fail={1})
    recs = run_sweep(FN, cfgs, cache, backend="submitit_local", workers=2, code="t", verbose=False,
                     poll_s=0.2)
    assert [r["status"] for r in recs] == ["ok", "failed"]
    assert recs[0]["result"]["y"] == 0 and "asked to fail" in recs[1]["error"]
    assert run_sweep(FN, cfgs, cache, backend="submitit_local", code="t", verbose=False)[0]["cached"]


def test_code_version_subset(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.py").write_text("y = 1\n")
    v = code_version(tmp_path, paths=["sub"])
    (tmp_path / "a.py").write_text("x = 2\n")                 # outside the subset: unchanged
    assert code_version(tmp_path, paths=["sub"]) == v
    (tmp_path / "sub" / "b.py").write_text("y = 2\n")
    assert code_version(tmp_path, paths=["sub"]) != v
    with pytest.raises(FileNotFoundError):
        code_version(tmp_path, paths=["missing.py"])
    from paperlib.experiments.regnet import SWEEP_CODE
    assert len(code_version(paths=SWEEP_CODE)) == 16


_DRIVER = '''
import os, sys, time, concurrent.futures as cf, multiprocessing as mp
from paperlib.sweep import _worker_init

def pid():
    return os.getpid()

if __name__ == "__main__":
    ex = cf.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"), initializer=_worker_init, initargs=(1,))
    print(ex.submit(pid).result(), flush=True)
    ex.submit(time.sleep, 120)
    time.sleep(120)
'''


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"      # a zombie is dead, only not reaped
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_sweep_workers_die_with_their_driver(tmp_path):
    """A killed notebook kernel (the sweep's driver) must not leave its pool workers computing."""
    import os
    import signal
    import subprocess
    import time

    from paperlib import REPO_ROOT

    script = tmp_path / "driver.py"
    script.write_text(_DRIVER)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        worker = int(proc.stdout.readline())
        assert _alive(worker)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.time() + 30
        while _alive(worker) and time.time() < deadline:
            time.sleep(0.1)
        assert not _alive(worker), "the sweep worker outlived its killed driver"
    finally:
        if proc.poll() is None:
            proc.kill()


def _sum_at(n_items, x, threads):
    import torch
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return torch.randn(n_items, generator=torch.Generator().manual_seed(x)).sum().item()
    finally:
        torch.set_num_threads(old)


def test_job_numbers_do_not_depend_on_backend_or_caller_threads(tmp_path):
    """Determinism (README): a job runs at threads_per_worker threads whatever the backend, so a serial
    sweep started from a 2-thread process gives the numbers of a 1-thread pool worker, bit for bit, and
    the caller's thread count is restored. The float32 sum is a kernel whose result does change with
    the thread count (checked first, so the test can fail)."""
    import torch
    n = 1 << 20
    assert _sum_at(n, 3, 1) != _sum_at(n, 3, 2)          # the thread count does change the numbers
    cfgs = [{"x": x, "reduce": n} for x in (3, 4)]
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        serial = run_sweep(FN, cfgs, tmp_path / "s", backend="serial", code="t", verbose=False)
        assert torch.get_num_threads() == 2                # the caller's threads are restored
    finally:
        torch.set_num_threads(old)
    assert [r["result"]["torch_threads"] for r in serial] == [1, 1]
    assert [r["numerics"]["threads"] for r in serial] == [1, 1]      # recorded with the job
    assert [r["result"]["sum"] for r in serial] == [_sum_at(n, 3, 1), _sum_at(n, 4, 1)]
    pool = run_sweep(FN, cfgs[::-1], tmp_path / "p", backend="local", workers=2, code="t", verbose=False)[::-1]
    assert [r["result"]["sum"] for r in pool] == [r["result"]["sum"] for r in serial]
    cached = run_sweep(FN, cfgs, tmp_path / "p", backend="serial", code="t", verbose=False)
    assert all(r["cached"] for r in cached) and [r["result"]["sum"] for r in cached] == [r["result"]["sum"] for r in serial]

"""runner.resultsdiff: exact comparison of two results.json, timings skipped, verdict changes reported."""
import json

from paperlib.runner.resultsdiff import diff_results, flatten, identical, main


def _res(err=0.25, secs=3.0, verdict="held", extra=None):
    m = {"val_err_a": err, "params_a": 1000, "sweep": {"n": 4, "cached": 2, "wall_seconds": secs},
         "train_img_per_s_a": 100.0 * secs, "curve": [0.1, err]}
    m.update(extra or {})
    return {"metrics": m, "claims": [{"id": "C1", "verdict": verdict}, {"id": "C2", "verdict": "held"}]}


def test_flatten_paths():
    assert dict(flatten({"a": {"b": [1, {"c": 2}]}})) == {"a.b[0]": 1, "a.b[1].c": 2}


def test_timings_and_cache_counts_are_skipped_numbers_compared_exactly():
    d = diff_results(_res(secs=3.0), _res(secs=9.0))
    assert identical(d) and d["ignored"] == 3 and d["compared"] == 5
    d = diff_results(_res(err=0.25), _res(err=0.25 + 1e-12))
    assert not identical(d) and [p for p, _, _ in d["differ"]] == ["metrics.curve[1]", "metrics.val_err_a"]
    assert identical(diff_results(_res(err=0.25), _res(err=0.25 + 1e-12), rtol=1e-9))
    d = diff_results(_res(), _res(verdict="inconclusive"))
    assert d["verdicts"] == [("C1", "held", "inconclusive")]
    d = diff_results(_res(), _res(extra={"new": 1.0}), ignore=["curve"])
    assert d["only_b"] == ["metrics.new"] and d["compared"] == 3


def test_cli_exit_status(tmp_path, capsys):
    (tmp_path / "a" / "01_x").mkdir(parents=True)
    (tmp_path / "b" / "01_x").mkdir(parents=True)
    (tmp_path / "a" / "01_x" / "results.json").write_text(json.dumps(_res()))
    (tmp_path / "b" / "01_x" / "results.json").write_text(json.dumps(_res(err=0.5)))
    assert main([str(tmp_path / "a"), str(tmp_path / "a"), "--slug", "01_x"]) == 0
    assert main([str(tmp_path / "a"), str(tmp_path / "b"), "--slug", "01_x"]) == 1
    assert "metrics.val_err_a: 0.25 -> 0.5" in capsys.readouterr().out
    assert main([str(tmp_path / "a"), str(tmp_path / "nowhere"), "--slug", "01_x"]) == 2

"""``gradlab bench``: the quick run produces every table, with ratios, in one go."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gradlab.cli import main
from gradlab.commands import bench as bench_command
from gradlab.errors import UsageError


@pytest.mark.slow
def test_quick_bench_reports_every_table_with_ratios(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    md = tmp_path / "BENCH.md"
    code = main(["bench", "--quick", "--json", "--out", str(tmp_path), "--markdown", str(md)])
    assert code == 0
    res = json.loads(capsys.readouterr().out)
    assert res["floors"]["matmul_flops"] > 1e9
    assert res["floors"]["read_bandwidth"] > 1e8
    jobs = {rows[0]["job"].split(",")[0]: rows for rows in res["jobs"]}
    assert set(jobs) == {"linear regression", "softmax regression", "MLP 784-200-200-10"}
    for rows in res["jobs"]:
        gradlab_rows = [r for r in rows if r.get("gradlab")]
        assert len(gradlab_rows) == 1
        assert gradlab_rows[0]["ratio"] == pytest.approx(1.0)
        assert any(r.get("floor") for r in rows)
        assert all(r["seconds"] > 0 for r in rows)
        # every path says how far it is from the floor; the floors themselves do not
        floor = next(r for r in rows if r.get("floor"))
        for r in rows:
            if r.get("floor"):
                assert "vs_floor" not in r
            else:
                assert r["vs_floor"] == pytest.approx(r["seconds"] / floor["seconds"])
    small = res["jobs"][0]
    tutorial = next(r for r in small if r.get("baseline"))
    assert tutorial["agrees"] == "yes"  # same final error as gradlab
    assert {r["table"] for r in res["scaling"]} == {"linear regression", "softmax", "mlp"}
    assert {r["engine"] for r in res["engines"]} >= {"numpy", "torch"}
    text = md.read_text()
    assert "## Jobs" in text
    assert "| x floor |" in text
    assert "## Scaling" in text
    assert "## Engines" in text
    assert (tmp_path / "bench.png").stat().st_size > 1000


def test_bench_outside_a_checkout_says_where_the_benchmarks_live(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "a" / "b" / "c" / "bench.py"
    monkeypatch.setattr(bench_command, "__file__", str(fake))
    with pytest.raises(UsageError, match="gradlab bench runs from a source checkout"):
        bench_command.bench_root()

"""The decide benchmark still runs and reports its figures (bench.decide); no timing is asserted."""

from __future__ import annotations

import json

import pytest

from bench import decide as bench_decide


def test_bench_reports_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    result = bench_decide.run(json_out=True, decisions=3_000, list_entries=2_000)
    printed = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert printed == result
    assert (result["name"], result["unit"], result["target"]) == ("decide", "us", bench_decide.TARGET_P99_US)
    assert result["value"] == result["p99_us"] >= result["p50_us"] > 0
    assert 0 < result["allowed_share"] < 1
    assert result["decisions_per_s"] > 0


def test_blob_view_answers_like_a_set() -> None:
    listed = ["10000101100000000001", "10000101100000000005", "10000101100000000009"]
    view = bench_decide.SortedBlobLists([int(a, 16) for a in listed], {"10000401100000000001"})
    for n in range(12):
        number = f"100001011000000000{n:02d}"
        assert view.is_blacklisted(number) is (number in listed)
    assert not view.is_blacklisted("12345678")
    assert view.is_whitelisted("10000401100000000001")

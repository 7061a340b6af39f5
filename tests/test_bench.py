"""`bench/run --quick` runs end to end and writes a well-formed results file (timings are not checked:
they depend on the machine; the published figures come from a full run, see bench/results.json)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_quick_bench_runs_and_writes_results(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    done = subprocess.run(
        [str(REPO / "bench" / "run"), "--quick", "--skip-peer", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(output.read_text(encoding="utf-8"))
    assert results["budget"] == "quick"
    single = results["single_stream"]["contenders"]
    assert set(single) == {"reference", "in-process"}
    assert single["reference"]["decode_tokens_per_s"]["n"] == results["settings"]["budget"]["single"]["rounds"]
    assert results["single_stream"]["ratios"]["decode_vs_in-process"]["median"] > 0
    assert results["peer"] == {"available": False, "reason": "skipped (--skip-peer)"}
    for crowd in results["load"]["clients"].values():
        assert crowd["all_completed"] and not crowd["errors"]
    assert results["disconnects"]["healthy_after_every_run"]
    overhead = results["harness"]["overhead"]
    assert overhead["cases"] > 0 and 0 <= overhead["overhead_share"]["median"] <= 1
    stub = results["harness"]["stub"]
    assert stub["stub_requests"]["unknown"] == 0  # every request the harness sent had a recorded answer
    assert stub["verdicts_same_as_reference_run"]["median"] == 1.0
    assert results["table"] and "decode ratio: reference / in-process" in done.stdout

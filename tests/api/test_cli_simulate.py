"""`leadgate rules simulate` predicts what `rules publish` then does; `evaluate --stage` runs a
filtered job. Through the CLI, on a database of the test's own, on both databases."""

from __future__ import annotations

import json
from pathlib import Path

from tests.api.own_db import leadgate, query
from tests.api.rulebook_data import demo_files, write_rulebook


async def test_simulate_then_publish_then_rollback_preview(
    fresh_database_url: str, tmp_path: Path
) -> None:
    url = fresh_database_url
    await leadgate(url, "demo", "seed", "--leads", "120")
    candidate = write_rulebook(tmp_path / "candidate", demo_files(engagement=10, fit=35))
    report = json.loads(await leadgate(url, "rules", "simulate", str(candidate), "--json"))
    predicted = {(m["from"], m["to"]): m["leads"] for m in report["moves"]}
    assert report["moved"] == sum(predicted.values()) > 0
    assert report["leads"] == 120
    version = report["candidate_version"]
    assert sum(report["histograms"]["fit"]["after"]) == 120
    table = await leadgate(url, "rules", "simulate", str(candidate), "--limit", "5")
    assert " ".join(table.split()).startswith(
        f"candidate {version[:12]} vs active {report['current_version'][:12]}: 5 leads, "
    )

    await leadgate(url, "rules", "publish", str(candidate), "--note", "lower gates")
    rows = await query(
        url,
        "SELECT c.from_stage, c.to_stage, COUNT(*) FROM lead_stage_change c "
        "JOIN evaluation e ON c.evaluation_id = e.id "
        f"WHERE c.applied AND e.rulebook_version = '{version}' GROUP BY c.from_stage, c.to_stage",
    )
    assert {(str(f), str(t)): n for f, t, n in rows} == predicted
    [(handoffs,)] = await query(
        url,
        "SELECT COUNT(*) FROM handoff h JOIN evaluation e ON h.evaluation_id = e.id "
        f"WHERE e.rulebook_version = '{version}'",
    )
    assert handoffs == report["handoffs"]

    base = write_rulebook(tmp_path / "base", demo_files())
    rollback = json.loads(await leadgate(url, "rules", "simulate", str(base), "--json"))
    assert rollback["moves"] == []
    assert rollback["stays"]["leads"] >= predicted.get(("engaged", "mql"), 0)
    assert rollback["stays"]["handoffs"] >= handoffs

    [(mqls,)] = await query(url, "SELECT COUNT(*) FROM lead WHERE stage = 'mql'")
    out = await leadgate(url, "evaluate", "--stage", "mql")
    assert out.startswith(f"evaluated {mqls} leads with rulebook {version[:12]}: 0 moved")
    [(lead_filter,)] = await query(url, "SELECT lead_filter FROM bulk_job ORDER BY id DESC LIMIT 1")
    assert json.loads(str(lead_filter))["stages"] == ["mql"]

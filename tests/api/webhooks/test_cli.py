"""``leadgate webhooks …`` as an operator runs it (a subprocess on a fresh SQLite file).

One test, few invocations: each one starts a Python process.
"""

from __future__ import annotations

from pathlib import Path

from tests.api.test_cli import db, leadgate

__all__ = ["db"]  # the fixture


def test_create_list_disable_delete_and_errors(db: Path) -> None:
    created = leadgate(
        "webhooks", "create", "https://crm.example/hook", "--event", "deal.won",
        "--segment", "enterprise", "--stage", "mql", db=db,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    endpoint_line, secret_line = created.stdout.strip().splitlines()
    assert endpoint_line == "endpoint 1"
    assert secret_line.startswith("secret whsec_")
    assert leadgate("webhooks", "disable", "1", db=db).returncode == 0
    listed = leadgate("webhooks", "list", db=db)
    assert listed.stdout.strip() == (
        "1\tdisabled (disabled by hand)\thttps://crm.example/hook\t"
        "events=deal.won, segments=enterprise, stages=mql"
    )
    bad = leadgate("webhooks", "create", "https://x.example", "--event", "deal.maybe", db=db)
    assert bad.returncode == 1
    assert "unknown event types ['deal.maybe']" in bad.stderr
    assert leadgate("webhooks", "delete", "1", db=db).returncode == 0
    missing = leadgate("webhooks", "redeliver", "42", db=db)
    assert missing.returncode == 1
    assert "no webhook delivery with id 42" in missing.stderr

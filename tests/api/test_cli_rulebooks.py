"""`leadgate rules publish/activate/versions/export` as an operator runs them, on both databases
(a database of the test's own, so the session app's rulebook pointer is not moved)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.api.rulebook_data import demo_files, typo_line, write_rulebook


def leadgate(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LEADGATE_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def versions(url: str) -> list[dict[str, Any]]:
    listed = leadgate(url, "rules", "versions", "--json")
    assert listed.returncode == 0, listed.stderr
    data: list[dict[str, Any]] = json.loads(listed.stdout)
    return data


def test_publish_activate_rollback_export(fresh_database_url: str, tmp_path: Path) -> None:
    url = fresh_database_url
    bad = write_rulebook(tmp_path / "bad", demo_files(typo=True))
    refused = leadgate(url, "rules", "publish", str(bad), "--note", "typo")
    assert refused.returncode == 1
    first_error = refused.stdout.splitlines()[0]
    assert first_error.startswith(f"{bad.as_posix()}/lifecycle.yaml:{typo_line()}:5: ")
    assert "unknown stage `mqlx`" in first_error
    assert "nothing was published or activated" in refused.stderr

    base = write_rulebook(tmp_path / "base", demo_files())
    done = leadgate(url, "rules", "publish", str(base), "--note", "baseline")
    assert done.returncode == 0, done.stderr
    [v1] = versions(url)
    assert done.stdout.startswith(f"published {v1['version'][:12]} ")
    assert (v1["active"], v1["note"], v1["published_by"][:4]) == (True, "baseline", "cli:")
    assert v1["files"] == sorted(demo_files())

    lower = write_rulebook(tmp_path / "lower", demo_files(engagement=20))
    done = leadgate(url, "rules", "publish", str(lower), "--note", "gate 20")
    assert done.returncode == 0, done.stderr
    assert "re-evaluating 0 leads: bulk job" in done.stdout
    assert done.stdout.startswith("published ")
    v2 = {"version": done.stdout.split("(")[1].split(")")[0]}

    rolled = leadgate(url, "rules", "activate", v1["version"][:10])
    assert rolled.returncode == 0, rolled.stderr
    assert rolled.stdout.startswith(f"active: {v1['version'][:12]}")
    assert [v["active"] for v in versions(url)] == [False, True]

    out = tmp_path / "exported"
    exported = leadgate(url, "rules", "export", v2["version"][:8], str(out))
    assert exported.returncode == 0, exported.stderr
    assert {p.name: p.read_text("utf-8") for p in out.iterdir()} == demo_files(engagement=20)
    unknown = leadgate(url, "rules", "activate", "abcdef0")
    assert unknown.returncode == 1
    assert "no published rulebook version 'abcdef0'" in unknown.stderr

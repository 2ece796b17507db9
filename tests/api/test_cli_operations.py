"""The CLI as an operator meets it: `leadgate serve` logs JSON lines with request context and
no secrets; failures (bad rulebook, database down) are one clear message and exit 1."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.api.test_cli import db, leadgate

__all__ = ["db"]

BROKEN = """\
scores:
  fit: {cap: 100}
stages:
  order: [new, mql]
  initial: new
  manual: [mql]
signals:
  - name: Exec Title
    score: fit
    points: 10
    when: {field: lead.title, matches: "vp"}
  - name: Big Company
    score: fit
    points: 5
    when: {field: lead.country, in: [US]}
"""
DOWN = "postgres://leadgate:s3cret@127.0.0.1:9/leadgate"  # discard port: nothing listens


@pytest.fixture
def broken_rules(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "rules.yaml").write_text(BROKEN)
    return folder


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_serve_with_a_bad_rulebook_prints_every_located_error(broken_rules: Path) -> None:
    result = _run("serve", LEADGATE_RULES_DIR=str(broken_rules))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert [line.split(": ")[1] for line in lines[:2]] == ["Exec Title", "Big Company"]
    assert lines[0].startswith("rules.yaml:8:11: ")
    assert lines[-1].startswith("error: 2 error(s) in the rulebook")
    assert len(lines) == 3


def test_evaluate_with_a_bad_rulebook_is_one_message(broken_rules: Path, db: Path) -> None:
    result = _run("evaluate", LEADGATE_RULES_DIR=str(broken_rules),
                  LEADGATE_DATABASE_URL=f"sqlite://{db}")  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 3


@pytest.mark.parametrize("command", [["db", "migrate"], ["evaluate"], ["serve"]])
def test_database_down_is_one_message_without_the_password(command: list[str]) -> None:
    result = _run(*command, LEADGATE_DATABASE_URL=DOWN)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: cannot use the database at postgres://leadgate:***@127.0.0.1:9")
    assert "s3cret" not in result.stderr


def test_rules_explain_defaults_now_to_the_current_time(tmp_path: Path) -> None:
    lead = {"lead": {"email": "vp@acme.com", "title": "VP Sales", "stage": "new"}}
    path = tmp_path / "lead.json"
    path.write_text(json.dumps(lead))
    result = leadgate("rules", "explain", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Not mql yet: ")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_serve_logs_json_lines_with_request_context_and_no_secrets(db: Path) -> None:
    created = leadgate("apikey", "create", "ops", "--role", "admin", db=db)
    token = created.stdout.strip()
    port = _free_port()
    env = {**os.environ, "LEADGATE_DATABASE_URL": f"sqlite://{db}", "LEADGATE_PORT": str(port),
           "LEADGATE_SLA_CHECK_INTERVAL_S": "3600"}  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                httpx.get(f"{url}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        body = {"query": 'mutation Intake { upsertLead(input: {email: "ada.lovelace@acme.com", '
                'title: "x"}) { lead { id } userErrors { code } } }'}  # fmt: skip
        answer = httpx.post(
            f"{url}/graphql",
            json=body,
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-42"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        httpx.post(f"{url}/graphql", json={"query": "{ leads(first: 101) { edges { cursor } } }"},
                   headers={"Authorization": f"Bearer {token}"}, timeout=30)  # fmt: skip
    finally:
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=30)
    records = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert records, err
    request = [r for r in records if r.get("request_id") == "req-42"]
    assert request, records
    finished = request[-1]
    assert finished["logger"] == "leadgate.request"
    assert finished["operation"] == "Intake"
    assert finished["key"] == token.split("_")[1]
    assert finished["status"] == 200
    assert {"timestamp", "level", "event", "duration_ms"} <= set(finished)
    client_error = [r for r in records if r.get("logger") == "leadgate.graphql"]
    assert client_error
    assert client_error[0]["level"] == "info"
    assert token.split("_", 2)[2] not in err  # the secret never
    assert "ada.lovelace@acme.com" not in err  # nor a full personal value


def test_make_run_leaves_host_and_port_to_the_settings(tmp_path: Path) -> None:
    """`make run` passes no --host/--port unless given on its command line, so `leadgate serve`
    takes LEADGATE_HOST / LEADGATE_PORT from the environment or .env."""
    root = Path(__file__).parents[2]
    env = {**os.environ, "HOST": "some-shell-host", "LEADGATE_PORT": "9123"}
    planned = subprocess.run(["make", "-n", "run"], cwd=root, env=env, capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
    serve = [line for line in planned.splitlines() if "leadgate serve" in line]
    assert serve
    assert "--host" not in serve[0]
    assert "--port" not in serve[0]
    explicit = subprocess.run(["make", "-n", "run", "PORT=9000"], cwd=root, capture_output=True,
                              text=True, check=True).stdout  # fmt: skip
    assert "--port 9000" in explicit
    dotenv = tmp_path / ".env"
    dotenv.write_text("LEADGATE_PORT=9124\nLEADGATE_HOST=0.0.0.0\n")
    from api.settings import Settings

    settings = Settings(_env_file=dotenv)
    assert (settings.host, settings.port) == ("0.0.0.0", 9124)

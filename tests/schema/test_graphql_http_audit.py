"""The graphql-http audit suite (npm ``graphql-http``, ``auditServer``) against a real server in
production mode, with a key: every MUST, SHOULD and MAY audit is ``ok``.

Node installs the package once into pytest's cache (``npm install``; node 18+ is needed).
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette

from api.auth import create_api_key
from api.enums import Role

AUDIT = Path(__file__).parent / "audit" / "audit.mjs"
PACKAGES = ("graphql-http@1.23.1", "graphql@16.15.0")


@pytest.fixture(scope="session")
def audit_dir(pytestconfig: pytest.Config) -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the graphql-http audit")
    if getattr(pytestconfig, "cache", None) is not None:
        folder = pytestconfig.cache.mkdir("graphql-http-audit")
    else:  # -p no:cacheprovider
        folder = Path(tempfile.gettempdir()) / "leadgate-graphql-http-audit"
        folder.mkdir(exist_ok=True)
    # CI runs the SQLite and PostgreSQL passes side by side on one cache: the first installs
    # under a file lock, the other waits, so neither reads a half-installed package.
    with (folder / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (folder / "node_modules" / "graphql-http" / "package.json").exists():
            (folder / "package.json").write_text('{"type": "module", "private": true}')
            npm = shutil.which("npm")
            assert npm is not None
            subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--silent", *PACKAGES],
                cwd=folder,
                check=True,
                timeout=300,
            )
    shutil.copy(AUDIT, folder / "audit.mjs")
    return folder


@pytest.fixture
async def url(app: Starlette) -> AsyncIterator[str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn exposes a flag, not an event)
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/graphql"
    server.should_exit = True
    await task


async def test_graphql_http_audit_is_all_ok(audit_dir: Path, url: str) -> None:
    _, token = await create_api_key(name="audit", role=Role.ADMIN)
    node = shutil.which("node")
    assert node is not None
    process = await asyncio.create_subprocess_exec(
        node,
        "audit.mjs",
        url,
        token,
        cwd=audit_dir,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    results = [json.loads(line) for line in out.decode().splitlines()]
    assert len(results) >= 50
    not_ok = [r for r in results if r["status"] != "ok"]
    assert not_ok == []

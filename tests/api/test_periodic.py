"""The scheduler re-evaluates only leads whose outcome can have changed by itself."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from starlette.applications import Starlette

from api.bulk import due_lead_ids, evaluate_leads
from api.engine import RulesEngine
from api.models import Activity, Evaluation, Lead
from api.periodic import rescore
from api.settings import Settings
from tests.api.test_bulk import hot_leads

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


async def test_each_evaluation_says_when_its_outcome_can_next_change(app: Starlette) -> None:
    engine: RulesEngine = app.state.engine
    [lead_id] = await hot_leads(1)
    await Activity.filter(lead_id=lead_id).update(occurred_at=NOW - timedelta(days=1))
    await evaluate_leads(engine=engine, lead_ids=[lead_id], now=NOW)
    lead = await Lead.get(id=lead_id)
    evaluation = await Evaluation.get(lead_id=lead_id)
    assert lead.rescore_at is not None
    assert lead.rescore_at == evaluation.next_change_at
    # the demo request of a day ago leaves the shortest window that counts it, not sooner
    assert NOW < lead.rescore_at <= NOW + timedelta(days=30)


async def test_the_scheduler_picks_only_due_leads(app: Starlette) -> None:
    engine: RulesEngine = app.state.engine
    ids = await hot_leads(3)
    await evaluate_leads(engine=engine, lead_ids=ids, now=NOW)
    due, later, never = ids
    await Lead.filter(id=due).update(rescore_at=NOW + timedelta(hours=1))
    await Lead.filter(id=later).update(rescore_at=NOW + timedelta(days=3))
    await Lead.filter(id=never).update(rescore_at=None)
    clock = NOW + timedelta(hours=2)
    assert await due_lead_ids(clock) == [due]
    before = {lead.id: lead.evaluated_at for lead in await Lead.all()}
    said = await rescore(engine, clock=lambda: clock)()
    assert said is not None
    assert said.startswith("re-scored 1 due leads")
    after = {lead.id: lead.evaluated_at for lead in await Lead.all()}
    assert after[due] == clock
    assert after[later] == before[later]
    assert after[never] == before[never]
    # re-evaluated at its time, the lead got its next time: it is not due again at once
    assert await due_lead_ids(clock) == []
    assert await rescore(engine, clock=lambda: clock)() is None


SERVE_BRIEFLY = """
import asyncio, sys
from asgi_lifespan import LifespanManager
from api.app import create_app
from api.settings import Settings

async def main() -> None:
    app = create_app(
        Settings(
            database_url=sys.argv[1], rules_dir=sys.argv[2], rescore_interval_s=0.1, _env_file=None
        )
    )
    async with LifespanManager(app, startup_timeout=60):
        await asyncio.sleep(1.5)  # the scheduler ticks at start, then every 0.1 s

asyncio.run(main())
"""


async def test_a_server_start_rescores_nothing(app: Starlette, settings: Settings) -> None:
    """A real server process starts (its scheduler ticking) over evaluated leads: no writes."""
    engine: RulesEngine = app.state.engine
    ids = await hot_leads(4)
    now = datetime.now(UTC)
    await Activity.filter(lead_id__in=ids).update(occurred_at=now - timedelta(hours=1))
    await evaluate_leads(engine=engine, lead_ids=ids, now=now)
    rows = await Evaluation.all().count()
    stamps = sorted(str(lead.evaluated_at) for lead in await Lead.all())
    done = await asyncio.to_thread(
        subprocess.run,
        # the test app's rules: a server on an emptied database activates its rules dir, and
        # the test app follows the active version (the full demo would leak into later tests)
        [sys.executable, "-c", SERVE_BRIEFLY, settings.database_url, str(settings.rules_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert await Evaluation.all().count() == rows
    assert sorted(str(lead.evaluated_at) for lead in await Lead.all()) == stamps

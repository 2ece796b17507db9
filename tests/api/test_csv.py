"""CSV import and export through the ``leadgate`` command, on the test database (both kinds).

The command runs as a subprocess against the same database as the test, the way an operator
runs it next to a server.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.applications import Starlette

from api.csv_import import import_leads
from api.leads import CompanyData, LeadData, upsert_lead
from api.models import Account, Evaluation, Lead
from api.settings import DEMO_RULES_DIR
from tests.conftest import SqlCounter

HEADER = ["E-Mail Address", "first_name", "Last Name", "Company", "Website", "Employees",
          "Country", "Favourite colour"]  # fmt: skip
ROWS = [
    ["ada@acme.example", "Ada", "Lovelace", "Acme", "acme.example", "1,500", "gb", "blue"],
    ["not-an-email", "Bad", "Email", "", "", "", "", ""],
    ["bo@beta.example", "Bo", "", "Beta", "", "many", "", ""],
    ["cy@gamma.example", "Cy", "", "", "", "", "USA", ""],
    ["old@delta.example", "Olga", "Updated", "", "", "", "", ""],
    ["dee@delta.example", "Dee", "", "", "", "", "", "", "an extra cell"],
]


def leadgate(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LEADGATE_RULES_DIR": str(DEMO_RULES_DIR),
        "LEADGATE_DATABASE_URL": database_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


async def test_bad_rows_go_to_the_report_and_the_rest_is_imported(
    app: Starlette, database_url: str, tmp_path: Path
) -> None:
    await upsert_lead(email="old@delta.example", data=LeadData(first_name="Olga"))
    file = write(tmp_path / "leads.csv", HEADER, ROWS)
    mapped = ("--map", "E-Mail Address=email")

    dry = leadgate("leads", "import", str(file), *mapped, "--dry-run", database_url=database_url)
    assert dry.returncode == 1, dry.stderr
    assert "would import 6 rows: 1 created, 1 updated, 0 unchanged, 4 failed" in dry.stdout
    assert await Lead.all().count() == 1  # a dry run writes nothing

    done = leadgate("leads", "import", str(file), *mapped, database_url=database_url)
    assert done.returncode == 1, done.stderr
    assert "imported 6 rows: 1 created, 1 updated, 0 unchanged, 4 failed" in done.stdout
    assert "ignored columns: Favourite colour" in done.stdout
    report = tmp_path / "leads.errors.csv"
    assert f"errors: {report}" in done.stdout
    with report.open(newline="") as handle:
        errors = [(r["line"], r["field"]) for r in csv.DictReader(handle)]
    assert errors == [
        ("3", "email"), ("4", "company_employee_count"), ("5", "country"), ("7", "row")
    ]  # fmt: skip

    ada = await Lead.get(email="ada@acme.example")
    assert (ada.first_name, ada.last_name, ada.country) == ("Ada", "Lovelace", "GB")
    account = await Account.get(id=ada.account_id)  # type: ignore[attr-defined]
    assert (account.name, account.employee_count, account.segment) == ("Acme", 1500, "enterprise")
    olga = await Lead.get(email="old@delta.example")
    assert (olga.last_name, olga.version) == ("Updated", 2)

    # Idempotent: the same file again changes nothing; --evaluate scores what changed.
    again = leadgate(
        "leads", "import", str(file), *mapped, "--evaluate", "--no-progress",
        database_url=database_url,
    )  # fmt: skip
    assert "0 created, 0 updated, 2 unchanged, 4 failed" in again.stdout
    assert await Lead.all().count() == 2
    assert await Evaluation.all().count() == 0  # nothing changed, nothing to evaluate


async def test_exports_stream_with_filters_and_reimport_unchanged(
    app: Starlette, database_url: str, tmp_path: Path
) -> None:
    big = CompanyData(website="big.example", employee_count=5000)
    await upsert_lead(
        email="a@big.example", data=LeadData(first_name="A", source="ads"), company=big
    )
    await upsert_lead(email="b@big.example", data=LeadData(first_name="B"), company=big)
    await upsert_lead(email="c@small.example", company=CompanyData(employee_count=5))
    out = tmp_path / "enterprise.csv"
    exported = leadgate(
        "leads", "export", "--segment", "enterprise", "-o", str(out), database_url=database_url
    )
    assert exported.returncode == 0, exported.stderr
    assert exported.stderr.strip() == "exported 2 leads"
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["email"], r["segment"], r["source"]) for r in rows] == [
        ("a@big.example", "enterprise", "ads"), ("b@big.example", "enterprise", "")
    ]  # fmt: skip
    back = leadgate("leads", "import", str(out), "--no-progress", database_url=database_url)
    assert back.returncode == 0, back.stderr
    assert "imported 2 rows: 0 created, 0 updated, 2 unchanged, 0 failed" in back.stdout

    evaluations = leadgate("evaluations", "export", "--trigger", "bulk", database_url=database_url)
    assert evaluations.returncode == 0, evaluations.stderr
    assert evaluations.stdout.splitlines()[0].startswith("id,lead_id,lead_email,created_at")


async def test_import_statements_do_not_grow_with_the_batch(
    app: Starlette, tmp_path: Path, sql_counter: SqlCounter
) -> None:
    counts = []
    for n, tag in ((10, "a"), (80, "b")):
        rows = [[f"{tag}{i}@corp{i}.example", "X", "", f"Corp {i}", "", "30", "", ""]
                for i in range(n)]  # fmt: skip
        file = write(tmp_path / f"{tag}.csv", ["email", *HEADER[1:]], rows)
        sql_counter.reset()
        summary = await import_leads(path=file, batch_size=100)
        assert (summary.created, summary.failed) == (n, 0)
        counts.append(len(sql_counter.statements))
    assert counts[0] == counts[1]


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"Nope": "email"}, "the file has no column"),
        ({"Email": "shoe_size"}, "unknown lead fields"),
    ],
)
async def test_a_bad_mapping_is_refused_before_anything_is_read(
    app: Starlette, tmp_path: Path, mapping: dict[str, str], message: str
) -> None:
    from api.errors import InvalidInput

    file = write(tmp_path / "m.csv", ["Email"], [["x@y.example"]])
    with pytest.raises(InvalidInput, match=message):
        await import_leads(path=file, overrides=mapping)

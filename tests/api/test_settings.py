"""Every setting is documented in the README's configuration table."""

from __future__ import annotations

import re
from pathlib import Path

from api.settings import Settings

README = Path(__file__).parents[2] / "README.md"


def test_every_setting_is_in_the_readme_table() -> None:
    rows = [line for line in README.read_text().splitlines() if line.startswith("| `LEADGATE_")]
    documented = set(re.findall(r"`LEADGATE_([A-Z0-9_]+)`", "\n".join(rows)))
    missing = {name.upper() for name in Settings.model_fields} - documented
    assert missing == set(), f"document these in README.md: {sorted(missing)}"

"""Loading: folders, split sections, content-hash versions, the shipped JSON Schema."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rules import (
    RulebookInvalid,
    RulebookNotFound,
    check_rulebook,
    content_version,
    load_rulebook,
    load_rulebook_files,
    read_rulebook_files,
    rulebook_schema,
)
from tests.rules.conftest import DEMO


def test_demo_loads() -> None:
    book = load_rulebook(DEMO)
    assert set(book.scores) == {"fit", "engagement"}
    assert book.scores["engagement"].half_life_days == 14
    assert book.stages.handoff == "mql"
    assert "too_small" in book.reason_codes("reject")
    assert len(book.version) == 64


def test_version_is_content_hash(tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(DEMO, copy)
    assert load_rulebook(copy).version == load_rulebook(DEMO).version
    (copy / "sla.yaml").write_text((copy / "sla.yaml").read_text() + "\n# note\n")
    assert load_rulebook(copy).version != load_rulebook(DEMO).version
    files = read_rulebook_files(DEMO)
    assert content_version(files) == load_rulebook(DEMO).version
    assert content_version(dict(reversed(list(files.items())))) == content_version(files)


def test_sections_split_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "scores: {fit: {cap: 100}}\nstages: {order: [new], initial: new}\n"
        "signals:\n  - {name: one, score: fit, points: 1}\n"
        "routing: {territories: [NA], routes: [{name: r1, pool: {territory: NA}}]}\n"
    )
    sub = tmp_path / "more"
    sub.mkdir()
    (sub / "b.yml").write_text(
        "scores: {engagement: {cap: 50}}\nsignals:\n  - {name: two, score: engagement, points: 2}\n"
        "routing: {territories: [EMEA], routes: [{name: r2, pool: {territory: EMEA}}]}\n"
    )
    book = load_rulebook(tmp_path)
    assert [s.name for s in book.signals] == ["one", "two"]
    assert set(book.scores) == {"fit", "engagement"}
    assert book.routing.territories == ("NA", "EMEA")
    assert [r.name for r in book.routing.routes] == ["r1", "r2"]
    assert sorted(book.sources) == ["a.yaml", "more/b.yml"]


def test_duplicate_across_files_is_located(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("scores: {fit: {cap: 100}}\n")
    (tmp_path / "b.yaml").write_text("scores:\n  fit: {cap: 10}\n")
    with pytest.raises(RulebookInvalid) as info:
        load_rulebook(tmp_path)
    first = info.value.errors[0]
    assert (first.file, first.line, first.column) == ("b.yaml", 2, 3)
    assert "defined twice" in first.message


def test_missing_folder_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(RulebookNotFound):
        load_rulebook(tmp_path / "nope")
    with pytest.raises(RulebookNotFound):
        load_rulebook(tmp_path)


def test_check_rulebook_lists_all_errors(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "scores: {fit: {cap: 100}}\nstages: {order: [new], initial: new}\nsignals:\n"
        "  - {name: a, score: fitt, points: 1}\n  - {name: a, score: fit, points: 1}\n"
    )
    errors = check_rulebook(tmp_path)
    assert [e.message for e in errors] == ["unknown score `fitt`", "duplicate rule name `a`"]
    assert check_rulebook(DEMO) == []


def test_schema_ships_in_package() -> None:
    schema = rulebook_schema()
    assert schema["title"] == "Leadgate rule file"
    assert "gte" in schema["$defs"]["condition"]["properties"]


def test_files_from_memory_accept_str() -> None:
    book = load_rulebook_files({"r.yaml": "scores: {fit: {cap: 10}}\n"})
    assert book.stages.initial == "new"
    assert book.root == "<memory>"


def test_non_mapping_file() -> None:
    with pytest.raises(RulebookInvalid, match="must be a mapping"):
        load_rulebook_files({"r.yaml": "- 1\n- 2\n"})


def test_file_size_limit_is_checked_before_parsing() -> None:
    """(#12) A 5.5 MB rule file took 30 s and 470 MB to check; now it is refused at once."""
    from rules.loader import MAX_FILE_BYTES, MAX_RULEBOOK_BYTES

    big = b"# padding\n" * (MAX_FILE_BYTES // 10 + 1)
    with pytest.raises(RulebookInvalid) as info:
        load_rulebook_files({"big.yaml": big})
    (error,) = info.value.errors
    assert (error.file, error.line, error.column) == ("big.yaml", 1, 1)
    assert f"at most {MAX_FILE_BYTES:,}" in error.message
    part = b"# padding\n" * (MAX_FILE_BYTES // 10 - 1)
    many = {f"f{i}.yaml": part for i in range(MAX_RULEBOOK_BYTES // len(part) + 1)}
    with pytest.raises(RulebookInvalid, match=f"at most {MAX_RULEBOOK_BYTES:,}"):
        load_rulebook_files(many)

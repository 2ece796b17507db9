"""The stored parsed form: a thawed rulebook is the parsed one; anything else is refused."""

from __future__ import annotations

import dataclasses
import os
import pickle
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rules import Evaluator, Rulebook, example_input, load_rulebook_files
from rules import frozen as frozen_module
from rules.frozen import NotThawed, format_fingerprint, freeze, thaw
from rules.synthetic import synthetic_rulebook


def frozen(book: Rulebook) -> bytes:
    blob = freeze(book)
    assert blob is not None
    return blob


def results(evaluator: Evaluator) -> list[dict[str, Any]]:
    """The demo's example leads evaluated (durations left out: they are timings)."""
    book = evaluator.book
    return [
        evaluator.evaluate(example_input(book, ex), explain=True).model_dump(
            exclude={"duration_ms"}
        )
        for ex in book.examples
    ]


@pytest.fixture(scope="module")
def thawed_evaluator(demo_book: Rulebook) -> Iterator[Evaluator]:
    book = thaw(frozen(demo_book), fingerprint=format_fingerprint(), version=demo_book.version)
    with Evaluator(book) as ev:
        yield ev


def test_a_thawed_rulebook_equals_the_parsed_one_and_decides_the_same(
    demo_book: Rulebook, evaluator: Evaluator, thawed_evaluator: Evaluator
) -> None:
    assert thawed_evaluator.book == demo_book
    assert thawed_evaluator.book is not demo_book
    assert len(demo_book.examples) >= 5
    assert results(thawed_evaluator) == results(evaluator)


def test_a_large_rulebook_round_trips() -> None:
    book = load_rulebook_files(synthetic_rulebook(200))
    assert thaw(frozen(book), fingerprint=format_fingerprint(), version=book.version) == book


class _Shell:
    """What a hostile database write would store: a pickle that runs a command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_a_global_outside_the_allow_list_is_refused_not_called(
    demo_book: Rulebook, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    hostile = dataclasses.replace(demo_book, root=_Shell(marker))  # type: ignore[arg-type]
    blob = zlib.compress(pickle.dumps(hostile, protocol=5))
    with pytest.raises(NotThawed, match="system is not part of a rulebook"):
        thaw(blob, fingerprint=format_fingerprint(), version=demo_book.version)
    assert not marker.exists()
    assert freeze(hostile) is None  # never stored in the first place


def test_a_blob_of_another_format_is_not_thawed(demo_book: Rulebook) -> None:
    with pytest.raises(NotThawed, match="fingerprint"):
        thaw(frozen(demo_book), fingerprint="0" * 32, version=demo_book.version)
    with pytest.raises(NotThawed, match="fingerprint"):
        thaw(frozen(demo_book), fingerprint=None, version=demo_book.version)


def test_another_version_or_damaged_bytes_are_not_thawed(demo_book: Rulebook) -> None:
    blob = frozen(demo_book)
    with pytest.raises(NotThawed, match="not 0000"):
        thaw(blob, fingerprint=format_fingerprint(), version="0" * 64)
    with pytest.raises(NotThawed):
        thaw(blob[: len(blob) // 2], fingerprint=format_fingerprint(), version=demo_book.version)
    forged = dataclasses.replace(demo_book, sources={"x.yaml": b"scores: {}\n"})
    with pytest.raises(NotThawed, match="not"):  # its sources do not hash to its version
        thaw(frozen(forged), fingerprint=format_fingerprint(), version=demo_book.version)


@dataclasses.dataclass(frozen=True)
class _LocWithEnd:
    file: str
    line: int
    column: int
    end_line: int


def test_the_fingerprint_follows_the_shape_of_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    before = format_fingerprint()
    grown = {**frozen_module.ALLOWED, ("rules.conditions", "Loc"): _LocWithEnd}
    monkeypatch.setattr(frozen_module, "ALLOWED", grown)
    format_fingerprint.cache_clear()
    try:
        assert format_fingerprint() != before  # a field more: old blobs are parsed again
    finally:
        format_fingerprint.cache_clear()

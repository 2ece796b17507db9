"""A rulebook's parsed form, stored with a published version so that loading it is no parse.

Parsing and validating a 1,000-rule rulebook costs seconds of CPU, nearly all of it in the
position-keeping YAML parser; the process that publishes a version has done that work already,
and every server that swaps to the version would do it again. The frozen form is the validated
:class:`~rules.rulebook.Rulebook` as a zlib-compressed pickle.

The database is trusted, but a write to it must not become code execution in every server that
reads it: the unpickler resolves only the exact classes a rulebook is made of (the allow-list
below; Python docs, pickle, "Restricting Globals"), so anything else is refused and the caller
parses the YAML instead. The format fingerprint names the pickle protocol, the Python minor
version, the shape (field names and types) of every allowed class and a digest of the code of
this package that parses and validates rule files: a blob frozen by other code (a model change,
a validator that grew) is never thawed; it is parsed again, as before.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import pickle
import sys
import zlib
from functools import cache
from pathlib import Path
from types import ModuleType

import ruamel.yaml
from ruamel.yaml import scalarbool, scalarfloat, scalarint, scalarstring

from rules import conditions, errors, rulebook, worktime
from rules.errors import RulesError
from rules.loader import content_version

PROTOCOL = 5
MAX_THAWED_BYTES = 64 * 1024 * 1024
"""A rulebook is at most 1 MiB of YAML (rules.loader); its pickle is a few times that. A larger
blob is refused before it is inflated."""


class NotThawed(RulesError):
    """The stored form cannot be used by this process: the caller parses the files instead."""


def _defined_in(*modules: ModuleType) -> list[type]:
    return [
        cls
        for module in modules
        for cls in vars(module).values()
        if isinstance(cls, type) and cls.__module__ == module.__name__
    ]


def _allowed() -> dict[tuple[str, str], type]:
    model = [
        cls
        for cls in _defined_in(rulebook, conditions)
        if dataclasses.is_dataclass(cls)  # Loc, the conditions, every section of the book
    ]
    model += [worktime.WeeklyHours, errors.RuleFileError]
    # Numbers and strings keep the ruamel type they were read as (ScalarFloat, …).
    model += _defined_in(scalarint, scalarfloat, scalarbool, scalarstring)
    return {(cls.__module__, cls.__qualname__): cls for cls in model}


ALLOWED = _allowed()
"""(module, name) → class: everything a frozen rulebook may name. Nothing else is resolved."""


@cache
def format_fingerprint() -> str:
    """What a blob must have been frozen with to be thawed here (hex, 32 characters)."""
    digest = hashlib.sha256()
    digest.update(f"pickle {PROTOCOL} python {sys.version_info[:2]}".encode())
    digest.update(f"ruamel.yaml {ruamel.yaml.__version__}".encode())
    for (module, name), cls in sorted(ALLOWED.items()):
        digest.update(f"\n{module}.{name}".encode())
        if dataclasses.is_dataclass(cls):
            for f in dataclasses.fields(cls):
                digest.update(f" {f.name}: {f.type}".encode())
    package = Path(__file__).parent
    for path in sorted([*package.glob("*.py"), *package.glob("*.json")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:32]


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> type:
        found = ALLOWED.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a rulebook")
        return found


def _load(data: bytes) -> rulebook.Rulebook:
    book = _Unpickler(io.BytesIO(data)).load()
    if not isinstance(book, rulebook.Rulebook):
        raise pickle.UnpicklingError(f"a {type(book).__name__}, not a rulebook")
    return book


def freeze(book: rulebook.Rulebook) -> bytes | None:
    """The stored form of ``book`` (None when it holds a value the thaw would refuse: such a
    version is parsed at every load, as before)."""
    data = pickle.dumps(book, protocol=PROTOCOL)
    try:
        _load(data)
    except (pickle.UnpicklingError, AttributeError, TypeError):
        return None
    return zlib.compress(data, 6)


def thaw(blob: bytes, *, fingerprint: str | None, version: str) -> rulebook.Rulebook:
    """The rulebook ``version`` from its stored form; :class:`NotThawed` says why it cannot
    be used (frozen by other code, a class outside the allow-list, damaged, another version)."""
    if fingerprint != format_fingerprint():
        raise NotThawed("frozen by other code (format fingerprint differs)")
    try:
        inflate = zlib.decompressobj()
        data = inflate.decompress(blob, MAX_THAWED_BYTES)
        if inflate.unconsumed_tail:
            raise NotThawed(f"inflates past {MAX_THAWED_BYTES:,} bytes")
        book = _load(data)
    except NotThawed:
        raise
    except Exception as exc:  # a damaged or hostile blob: any failure means "parse instead"
        raise NotThawed(f"{type(exc).__name__}: {exc}") from exc
    if book.version != version or content_version(book.sources) != version:
        raise NotThawed(f"holds version {book.version[:12]}, not {version[:12]}")
    return book

"""``fast_round`` is ``round`` bit for bit: scores and contributions keep every digit."""

from __future__ import annotations

import math
import struct

from hypothesis import given
from hypothesis import strategies as st

from rules.scoring import fast_round


def _bits(x: float | int) -> tuple[type, bytes]:
    return type(x), struct.pack("<d", float(x))


@given(st.floats(allow_nan=False), st.sampled_from([4, 6]))
def test_fast_round_is_round_on_any_float(x: float, digits: int) -> None:
    assert _bits(fast_round(x, digits)) == _bits(round(x, digits))


@given(st.integers(-(10**9), 10**9), st.sampled_from([4, 6]), st.sampled_from([-0.5, 0, 0.5]))
def test_fast_round_is_round_at_and_around_decimal_halfway_points(
    units: int, digits: int, half: float
) -> None:
    x = (units + half) / 10**digits
    for near in (x, math.nextafter(x, math.inf), math.nextafter(x, -math.inf)):
        assert _bits(fast_round(near, digits)) == _bits(round(near, digits))


def test_fast_round_keeps_the_sign_of_zero_and_the_type_of_ints() -> None:
    assert _bits(fast_round(-0.00001, 4)) == _bits(-0.0)
    assert _bits(fast_round(-0.0, 6)) == _bits(-0.0)
    assert fast_round(5, 4) == 5
    assert type(fast_round(5, 4)) is int
    assert math.isnan(fast_round(math.nan, 4))
    assert fast_round(math.inf, 4) == math.inf

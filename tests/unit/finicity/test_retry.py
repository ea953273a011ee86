from hypothesis import given
from hypothesis import strategies as st

from service.finicity.retry import backoff_delay

attempts = st.integers(min_value=0, max_value=10_000)
bases = st.floats(min_value=0.0, max_value=10.0)
caps = st.floats(min_value=0.0, max_value=120.0)
unit = st.floats(min_value=0.0, max_value=1.0)


@given(attempts, bases, caps, unit)
def test_delay_is_never_negative(attempt: int, base: float, cap: float, r: float) -> None:
    assert backoff_delay(attempt, base, cap, lambda: r) >= 0


@given(attempts, bases, caps, unit)
def test_delay_never_exceeds_cap_without_retry_after(attempt: int, base: float, cap: float, r: float) -> None:
    assert backoff_delay(attempt, base, cap, lambda: r) <= cap


@given(attempts, bases, caps, unit)
def test_delay_never_exceeds_exponential_ceiling(attempt: int, base: float, cap: float, r: float) -> None:
    assert backoff_delay(attempt, base, cap, lambda: r) <= base * 2 ** min(attempt, 60)


@given(attempts, bases, caps, unit, st.floats(min_value=0.0, max_value=60.0))
def test_retry_after_is_honoured_exactly_within_bound(
    attempt: int, base: float, cap: float, r: float, retry_after: float
) -> None:
    assert backoff_delay(attempt, base, cap, lambda: r, retry_after=retry_after) == retry_after


@given(st.floats(min_value=60.0, max_value=1e9))
def test_retry_after_is_bounded(retry_after: float) -> None:
    assert backoff_delay(0, 0.5, 20, lambda: 0.5, retry_after=retry_after, retry_after_cap=60) == 60


def test_full_jitter_scales_with_attempt() -> None:
    assert [backoff_delay(a, 0.5, 20, lambda: 1.0) for a in range(8)] == [0.5, 1, 2, 4, 8, 16, 20, 20]


def test_rng_out_of_range_is_clamped() -> None:
    assert backoff_delay(3, 0.5, 20, lambda: 7.0) == 4.0
    assert backoff_delay(3, 0.5, 20, lambda: -1.0) == 0.0

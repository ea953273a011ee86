"""Backoff for retried Mastercard calls: full-jitter exponential, honouring Retry-After."""

from __future__ import annotations

from collections.abc import Callable

# A hostile or buggy Retry-After must not park a worker for an hour.
DEFAULT_RETRY_AFTER_CAP = 60.0
_MAX_EXPONENT = 60  # 2**60 * any sane base is far above any cap; avoids float overflow


def backoff_delay(
    attempt: int,
    base: float,
    cap: float,
    rng: Callable[[], float],
    retry_after: float | None = None,
    retry_after_cap: float = DEFAULT_RETRY_AFTER_CAP,
) -> float:
    """Seconds to wait before retry number `attempt` (0 = first retry).

    Without Retry-After: uniform in [0, min(cap, base * 2**attempt)] ("full jitter", so many callers
    that failed together do not retry together). With Retry-After: exactly what the server asked,
    bounded by `retry_after_cap`.
    """
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, retry_after_cap)
    ceiling = min(cap, base * 2 ** min(max(attempt, 0), _MAX_EXPONENT))
    return max(0.0, min(1.0, rng())) * max(ceiling, 0.0)

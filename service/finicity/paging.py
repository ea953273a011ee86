"""Transaction paging that never loops and never passes a partial read off as whole.

Mastercard pages transactions by a 1-based record index (`start`) and reports `found`, the size of
the window. The server is not trusted to be consistent: the one pager here (used by the account
read, v4, and the customer read, v3) stops with `IncompleteRead` when

- a page comes back empty before `found` records were read (the rest of the window is missing),
- a page repeats a transaction already read in this window (a server serving the same page again,
  or rows shifting under an offset cursor: either way the read is not a faithful copy),
- more pages were needed than `ceil(found / limit) + 1` (a server that never ends).

`IncompleteRead` is retryable: the job runs again later, and the caller reconciles only after the
iterator finished normally. Rows are keyed by (accountId, id), because transaction ids are unique
per account only.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable

from service.finicity.errors import FinicityError
from service.finicity.models import TransactionPage

FetchPage = Callable[[int], Awaitable[TransactionPage]]  # start -> page


class IncompleteRead(FinicityError):
    """The server's pages do not add up to the window it reported: nothing may be reconciled."""

    reason = "The bank-data provider returned an inconsistent list of transactions; the sync will be retried."
    retryable = True


def page_budget(found: int, limit: int) -> int:
    """The most pages a window of `found` records may take: one more than needed, for a last empty page."""
    return math.ceil(max(found, 0) / limit) + 1


async def read_pages(fetch: FetchPage, limit: int) -> AsyncIterator[TransactionPage]:
    """Yield the window's non-empty pages in order; raise IncompleteRead instead of yielding a lie."""
    start = 1
    read = 0
    pages = 0
    seen: set[tuple[int, int]] = set()
    while True:
        page = await fetch(start)
        pages += 1
        if pages > page_budget(page.found, limit):
            raise IncompleteRead(
                None, None, f"page {pages} requested for {page.found} records at {limit} per page"
            )
        size = len(page.transactions) + len(page.rejected)
        if size == 0:
            if read < page.found:
                raise IncompleteRead(None, None, f"empty page at start={start} after {read} of {page.found} records")
            return
        keys = page.keys()
        fresh = seen.isdisjoint(keys) and len(set(keys)) == len(keys)
        if not fresh:
            raise IncompleteRead(None, None, f"page at start={start} repeats transactions already read")
        seen.update(keys)
        read += size
        yield page
        if read >= page.found:
            return
        start += size

"""Wire models serialised with msgspec (field names are the spec's)."""

from __future__ import annotations

import msgspec


class Categorization(msgspec.Struct, omit_defaults=True):
    normalizedPayeeName: str
    category: str
    country: str
    bestRepresentation: str | None = None
    city: str | None = None
    state: str | None = None


class Tx(msgspec.Struct, omit_defaults=True):
    id: int
    amount: float
    accountId: int
    customerId: int
    status: str
    description: str
    createdDate: int
    memo: str | None = None
    type: str | None = None
    transactionDate: int | None = None
    postedDate: int | None = None
    checkNum: str | None = None
    categorization: Categorization | None = None

    @property
    def effective_date(self) -> int:
        """postedDate if posted, transactionDate while pending."""
        if self.status == "pending" or self.postedDate is None:
            return self.transactionDate or 0
        return self.postedDate

    def filter_date(self, rule: str) -> int:
        """The date the range filter and the sort use under a rule (the spec does not say which):
        `transactionDate` (the spec's sort key, postedDate when there is none) or `postedDate` (postedDate
        for posted rows, transactionDate for pending ones)."""
        if rule == "transactionDate":
            return self.transactionDate or self.postedDate or 0
        return self.effective_date


_encoder = msgspec.json.Encoder()
encode = _encoder.encode

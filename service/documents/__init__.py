"""Documents for the CPA's file: bank statements (PDF) and accountant exports (CSV, OFX, QBO)."""

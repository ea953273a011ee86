"""Mastercard webhooks: verified intake (routes), signature schemes (verify), processing job (process)."""

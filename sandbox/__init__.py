"""Local, stateful, spec-faithful stand-in for the Mastercard Open Banking US API (see README.md)."""

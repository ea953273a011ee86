"""Route handlers of the Open Banking US API stand-in (one module per spec area)."""

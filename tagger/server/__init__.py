"""The HTTP service and the editors' web page (needs the `server` extras)."""

"""Command groups registered by tagger.cli (each a typer app in its own module)."""

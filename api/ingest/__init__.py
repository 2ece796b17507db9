"""Event ingest from marketing stacks (the Segment spec)."""

"""Demo data for newcomers: ``leadgate demo seed`` fills an empty database with a live funnel."""

from api.demo.seed import BATCH_SIZE, SeedSummary, seed_demo

__all__ = ["BATCH_SIZE", "SeedSummary", "seed_demo"]

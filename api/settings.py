"""Service settings, read from ``LEADGATE_*`` environment variables (and a ``.env`` file)."""

from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

import rules

DEMO_RULES_DIR = Path(rules.__file__).parent / "demo"


class Settings(BaseSettings):
    """Everything an operator can set; defaults run the demo on a local SQLite file."""

    model_config = SettingsConfigDict(env_prefix="LEADGATE_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite://leadgate.sqlite3",
        description="Tortoise URL: sqlite://PATH or postgres://user:pass@host:port/db",
    )
    rules_dir: Path = Field(default=DEMO_RULES_DIR, description="Folder of rule files")
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"
    dev: bool = Field(default=False, description="Enables GraphiQL and introspection")
    dev_anonymous_admin: bool = Field(
        default=False, description="Requests without a key act as admin. Local demos only"
    )
    engine_workers: int = Field(default=1, ge=1, description="Rule-engine worker processes")
    engine_timeout_s: float = Field(default=5.0, gt=0)
    sla_check_interval_s: float = Field(default=60.0, gt=0)
    rescore_interval_s: float = Field(
        default=6 * 3600, gt=0, description="How often decaying engagement is re-scored"
    )
    event_poll_interval_s: float = Field(
        default=0.2, gt=0, description="How often subscriptions look for new events"
    )
    max_body_bytes: int = Field(default=1_000_000, gt=0)
    sales_cost_per_month: Decimal = Field(
        default=Decimal(0), ge=0, description="Sales team cost per month, added to CAC"
    )
    rulebook_poll_interval_s: float = Field(
        default=1.0, gt=0, description="How often each process checks the active rulebook"
    )
    job_runner: str = Field(
        default="inline",
        pattern="^(inline|off)$",
        description="Who runs bulk jobs: each server process (inline), or only the CLI (off)",
    )
    job_poll_interval_s: float = Field(default=2.0, gt=0, description="Job runner poll interval")
    job_batch_size: int = Field(
        default=100, gt=0, description="Leads per committed batch of a bulk job"
    )
    job_chunk_size: int = Field(
        default=2_000, gt=0, description="Leads per chunk (the unit runners claim)"
    )
    shadow_poll_interval_s: float = Field(
        default=1.0, gt=0, description="How often a running shadow rulebook catches up"
    )
    max_depth: int = Field(default=12, gt=0, description="Deepest field nesting per operation")
    max_aliases: int = Field(default=30, ge=0, description="Aliases per operation")
    max_directives: int = Field(default=50, ge=0, description="Directives per operation")
    max_tokens: int = Field(default=5_000, gt=0, description="Lexical tokens per document")
    max_cost: int = Field(
        default=10_000, gt=0, description="Operation cost: 1 per field, times list page sizes"
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()

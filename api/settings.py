"""Service settings, read from ``LEADGATE_*`` environment variables (and a ``.env`` file)."""

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

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
    log_level: str = Field(default="info", description="debug, info, warning or error")
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="Log lines: json, console (human), auto (console in dev)"
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description='Browser origins allowed to call the API, a JSON list: ["https://app.example"]',
    )
    metrics_enabled: bool = Field(default=True, description="Serve Prometheus metrics at /metrics")
    dev: bool = Field(default=False, description="Enables GraphiQL and introspection")
    dev_anonymous_admin: bool = Field(
        default=False, description="Requests without a key act as admin. Local demos only"
    )
    engine_workers: int | None = Field(
        default=None, ge=1, description="Rule-engine worker processes (default: one per core)"
    )
    engine_timeout_s: float = Field(default=5.0, gt=0)
    sla_check_interval_s: float = Field(default=60.0, gt=0)
    rescore_interval_s: float = Field(
        default=60,
        gt=0,
        description="How often the scheduler looks for leads whose outcome can have changed "
        "by itself (an indexed query; only due leads are re-evaluated)",
    )
    event_poll_interval_s: float = Field(
        default=0.2, gt=0, description="How often subscriptions look for new events"
    )
    key_check_interval_s: float = Field(
        default=2.0, gt=0, description="How often open subscriptions re-check their API key"
    )
    header_timeout_s: float = Field(
        default=10.0, gt=0, description="Time a client has to send its request line and headers"
    )
    body_timeout_s: float = Field(
        default=30.0, gt=0, description="Time a client has to send its whole request body"
    )
    keep_alive_timeout_s: float = Field(
        default=5.0, gt=0, description="Idle time before a keep-alive connection is closed"
    )
    max_body_bytes: int = Field(default=1_000_000, gt=0)
    sales_cost_per_month: Decimal = Field(
        default=Decimal(0), ge=0, description="Sales team cost per month, added to CAC"
    )
    segment_events: dict[str, str] = Field(
        default_factory=dict,
        description="Segment event name -> activity type (JSON), added to the defaults",
    )
    webhook_dispatch: bool = Field(
        default=True, description="Deliver webhooks from this server process"
    )
    webhook_poll_interval_s: float = Field(default=0.5, gt=0)
    webhook_timeout_s: float = Field(default=10.0, gt=0, description="Per delivery attempt")
    webhook_max_attempts: int = Field(default=8, ge=1, description="Then a delivery fails")
    webhook_retry_base_s: float = Field(
        default=10.0, gt=0, description="First retry delay; each next one is 4x longer"
    )
    webhook_disable_after: int = Field(
        default=20, ge=1, description="Failed attempts in a row that disable an endpoint"
    )
    webhook_concurrency: int = Field(default=16, ge=1, description="Requests in flight")
    erasure_tombstones: bool = Field(
        default=True,
        description="eraseLead keeps a hash of the email so intake refuses to re-create it",
    )
    rulebook_poll_interval_s: float = Field(
        default=1.0, gt=0, description="How often each process checks the active rulebook"
    )
    rules_watch: bool = Field(
        default=False,
        description="Dev only: publish and activate rules_dir on every change that validates",
    )
    job_runner: str = Field(
        default="inline",
        pattern="^(inline|off|workers)$",
        description="Who runs bulk jobs: each server process (inline), only the CLI (off), or "
        "`leadgate worker` processes (workers, PostgreSQL): the CLI enqueues and shows progress",
    )
    job_poll_interval_s: float = Field(default=2.0, gt=0, description="Job runner poll interval")
    job_batch_size: int = Field(
        default=1_000, gt=0, description="Leads per committed batch of a bulk job"
    )
    job_chunk_size: int = Field(
        default=2_000, gt=0, description="Leads per chunk (the unit runners claim)"
    )
    worker_concurrency: int = Field(
        default=1, ge=1, description="Chunks one `leadgate worker` runs at once"
    )
    worker_heartbeat_s: float = Field(
        default=10.0, gt=0, description="How often a `leadgate worker` says it is alive"
    )
    worker_stalled_after_s: float = Field(
        default=60.0,
        gt=0,
        description="A worker silent this long is dead: its chunks go to another worker",
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

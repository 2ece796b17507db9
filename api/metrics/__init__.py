"""Marketing, handoff, sales and shared metrics, computed by SQL aggregates.

Every metric is one parameterised query that returns at most one row per (period, group[,
breakdown]); Python only divides the aggregates and fills empty periods. The SQL is the same
on SQLite and PostgreSQL except for a few dialect expressions (``sql.Dialect``): period
buckets, timestamp comparison, durations, exact money sums and the median.

Where things are:

- ``definitions``: the catalogue, one entry per metric with its definition, unit, team, groups
  and direction (lower is better?).
- ``periods``: calendar periods, the groups, the window a query covers.
- ``sql``: dialect expressions, the tables with their joins, the one-aggregate query.
- ``measures``: the aggregate behind most metrics; ``cohorts``: cohorts and the funnel;
  ``costs``: campaign cost and CAC; ``compute``: series for charts; ``goals``: targets.

Definitions shared by all metrics (each counted in the period its anchor falls in):

- Attribution: ``campaign`` is the lead's first-touch campaign, ``source`` the lead's source,
  ``segment`` the account's segment, ``owner`` the owner of the handoff/deal (or of the lead).
- Cohort metrics (``engaged_share``, ``lead_to_mql``) follow the leads *created* in a period:
  a lead reached a stage when it entered it or went past it. The funnel counts the leads that
  entered each stage and reports those that skipped it apart.
- Money is summed as stored, without currency conversion.
- ``from``/``to`` are widened to whole periods, so the first and last points are complete.
"""

from __future__ import annotations

from api.metrics.cohorts import Cohort, FunnelStage, funnel
from api.metrics.compute import Point, Series, compute_metrics, median
from api.metrics.definitions import CATALOGUE, Metric, Unit, get_metric, metric_names
from api.metrics.periods import NO_GROUP, GroupBy, elapsed_fraction, period_start, periods

__all__ = [
    "CATALOGUE",
    "NO_GROUP",
    "Cohort",
    "FunnelStage",
    "GroupBy",
    "Metric",
    "Point",
    "Series",
    "Unit",
    "compute_metrics",
    "elapsed_fraction",
    "funnel",
    "get_metric",
    "median",
    "metric_names",
    "period_start",
    "periods",
]

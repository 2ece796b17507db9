"""Engine limits of durable-rules 2.0.28 (DESIGN.md §4), checked before compiling.

Measured: more than 64 rules whose first pattern matches one fact fail with engine error 303;
512 conditions under one node loop forever. We stay well below both.
"""

MAX_PATTERNS_PER_FACT = 60
"""Distinct first-level patterns one fact can match in one engine ruleset (catch-all included).
Error 303 comes above 64; the compiler packs rules into as many rulesets as this needs."""

MAX_FIRST_LEVEL_PER_PHASE = MAX_PATTERNS_PER_FACT
"""Former name (rules per phase), kept for callers; the limit is per fact and ruleset."""

MAX_CONDITIONS_PER_NODE = 200
"""Leaf tests in one pattern (``in`` lists count one per value)."""

MAX_DISJUNCTS_PER_RULE = 16
"""A rule mixing ``any``/``not`` with activity patterns compiles to one engine rule per branch."""

MAX_RULES_PER_RULESET = 400
"""Engine rules per ruleset; a larger rulebook is packed into more rulesets."""

MAX_ABS_NUMBER = 1e15
"""Larger numbers would be written in exponent form, which the engine rejects (error 204)."""

MIN_ABS_FRACTION = 1e-4
"""Smaller non-zero fractions would be written in exponent form too; facts round them to 0."""

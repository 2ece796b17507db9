"""Sections of every rule file merged into the typed :class:`~rules.rulebook.Rulebook`."""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError

from rules import conditions as c
from rules.errors import RuleFileError
from rules.rulebook import (
    Escalation,
    Example,
    FeedbackRule,
    Route,
    Routing,
    Rulebook,
    ScoreDef,
    Signal,
    Sla,
    SlaRule,
    Stages,
    Transition,
    WorkingCalendar,
    WorkingTime,
)
from rules.shapes import ShapeChecker
from rules.worktime import ALWAYS, WorkTimeError, check_holidays, parse_hours, zone
from rules.yaml_source import FileLocs, plain, yaml_error

LIST_SECTIONS = ("signals", "qualification", "disqualification", "feedback", "examples")


class Builder:
    """Accumulates sections across files, then builds the typed rulebook."""

    def __init__(self) -> None:
        self.errors: list[RuleFileError] = []
        self.lists: dict[str, list[tuple[FileLocs, Any]]] = {k: [] for k in LIST_SECTIONS}
        self.maps: dict[str, list[tuple[FileLocs, Any]]] = {}

    def error(self, loc: c.Loc, rule: str | None, msg: str, hint: str | None = None) -> None:
        self.errors.append(RuleFileError(loc.file, loc.line, loc.column, rule, msg, hint))

    def add_file(self, rel: str, data: bytes) -> None:
        locs = FileLocs(rel)
        try:
            doc = YAML(typ="rt").load(data)
        except MarkedYAMLError as exc:
            self.errors.append(yaml_error(rel, exc))
            return
        except Exception as exc:  # ruamel raises several unrelated types for bad bytes
            self.error(c.Loc(rel, 1, 1), None, f"cannot read YAML: {exc}")
            return
        if doc is None:
            return
        if not isinstance(doc, CommentedMap):
            self.error(locs.of(doc), None, "a rule file must be a mapping of sections")
            return
        shapes = ShapeChecker()
        shapes.check(locs, doc)
        if shapes.errors:
            self.errors.extend(shapes.errors)
            return
        for section, body in doc.items():
            if section in LIST_SECTIONS:
                self.lists[section].extend((locs, item) for item in body)
            else:
                self.maps.setdefault(str(section), []).append((locs, body))

    def build(self, version: str, root: str, sources: dict[str, bytes]) -> Rulebook:
        scores = self._scores()
        stages = self._stages()
        return Rulebook(
            version=version,
            root=root,
            scores=scores,
            signals=tuple(self._signal(lc, n) for lc, n in self.lists["signals"]),
            stages=stages,
            transitions=tuple(
                [self._transition(lc, n, "qualification") for lc, n in self.lists["qualification"]]
                + [
                    self._transition(lc, n, "disqualification")
                    for lc, n in self.lists["disqualification"]
                ]
            ),
            routing=self._routing(),
            sla=self._sla(),
            working_time=self._working_time(),
            feedback=tuple(self._feedback(lc, n) for lc, n in self.lists["feedback"]),
            reasons=self._reasons(),
            examples=tuple(
                Example(str(n["name"]), plain(n["input"]), plain(n["expect"]), lc.of(n))
                for lc, n in self.lists["examples"]
            ),
            example_defaults=plain(self._merged_map("example_defaults")),
            reason_labels={
                kind: {str(r["code"]): str(r.get("label", r["code"])) for r in entries}
                for kind, entries in self._merged_map("reasons").items()
            },
            sources=dict(sources),
        )

    def _merged_map(self, section: str) -> dict[str, Any]:
        """Merge a mapping section across files: lists concatenate, other keys must be unique."""
        merged: dict[str, Any] = {}
        for locs, body in self.maps.get(section, []):
            for key, value in body.items():
                if key in merged and isinstance(value, list) and isinstance(merged[key], list):
                    merged[key] = merged[key] + list(value)
                elif key in merged:
                    self.error(locs.key(body, key), None, f"`{section}.{key}` is defined twice")
                else:
                    merged[key] = value
        return merged

    def _keyed(self, section: str) -> list[tuple[FileLocs, Any, str, Any]]:
        out: list[tuple[FileLocs, Any, str, Any]] = []
        for locs, body in self.maps.get(section, []):
            out.extend((locs, body, str(k), v) for k, v in body.items())
        return out

    def _scores(self) -> dict[str, ScoreDef]:
        scores: dict[str, ScoreDef] = {}
        for locs, body, name, s in self._keyed("scores"):
            if name in scores:
                self.error(locs.key(body, name), name, f"score `{name}` is defined twice")
                continue
            cap = float(s["cap"])
            scores[name] = ScoreDef(
                name=name,
                cap=cap,
                floor=float(s.get("floor", 0)),
                half_life_days=float(s["half_life_days"]) if "half_life_days" in s else None,
                adjustment_bound=float(s.get("adjustment_bound", cap)),
                loc=locs.key(body, name),
            )
        return scores

    def _stages(self) -> Stages:
        found = self.maps.get("stages", [])
        if not found:
            return Stages(("new",), (), "new", (), None, c.Loc("<none>", 1, 1))
        for locs, body in found[1:]:
            self.error(locs.of(body), None, "`stages` is defined in more than one file")
        locs, s = found[0]
        return Stages(
            order=tuple(map(str, s["order"])),
            side=tuple(map(str, s.get("side", []))),
            initial=str(s["initial"]),
            manual=tuple(map(str, s.get("manual", []))),
            handoff=str(s["handoff"]) if "handoff" in s else None,
            loc=locs.of(s),
            value_locs=_stage_value_locs(locs, s),
        )

    def _when(self, locs: FileLocs, node: Any) -> c.Condition:
        if "when" not in node:
            return c.AllOf((), locs.of(node))
        return c.parse(node["when"], locs.of, locs.key)

    def _signal(self, locs: FileLocs, n: Any) -> Signal:
        return Signal(
            name=str(n["name"]),
            score=str(n["score"]),
            points=float(n["points"]),
            when=self._when(locs, n),
            per_activity=bool(n.get("per_activity", False)),
            max_count=int(n.get("max_count", 1 if not n.get("per_activity") else 10)),
            description=str(n.get("description", "")),
            loc=locs.of(n),
        )

    def _transition(self, locs: FileLocs, n: Any, section: str) -> Transition:
        to = str(n["to"]) if section == "qualification" else "disqualified"
        return Transition(
            name=str(n["name"]),
            section=section,
            to=to,
            from_stages=tuple(map(str, n.get("from", []))),
            when=self._when(locs, n),
            reason=str(n["reason"]) if "reason" in n else None,
            loc=locs.of(n),
        )

    def _routing(self) -> Routing:
        merged = self._merged_map("routing")
        routes = []
        for locs, body in self.maps.get("routing", []):
            for r in body.get("routes", []):
                pool = r.get("pool", {})
                routes.append(
                    Route(
                        name=str(r["name"]),
                        territory=str(pool["territory"]) if "territory" in pool else None,
                        segment=str(pool["segment"]) if "segment" in pool else None,
                        when=self._when(locs, r),
                        loc=locs.of(r),
                        weights=tuple((str(k), float(v)) for k, v in r.get("weights", {}).items()),
                        catch_up_per_day=_catch_up(r.get("catch_up", "none")),
                        queue_max_wait_hours=self._max_wait(locs, r),
                    )
                )
        return Routing(
            territories=tuple(map(str, merged.get("territories", []))),
            segments=tuple(map(str, merged.get("segments", []))),
            routes=tuple(routes),
        )

    def _sla(self) -> Sla:
        priorities: dict[str, float] = {}
        clocks: dict[str, str] = {}
        default = None
        rules = []
        escalation: dict[str, Escalation] = {}
        for locs, body in self.maps.get("sla", []):
            for key, hours in body.get("priorities", {}).items():
                if key in priorities:
                    self.error(locs.key(body["priorities"], key), None, f"priority `{key}` twice")
                if isinstance(hours, dict):
                    clocks[str(key)] = str(hours.get("clock", "wall"))
                    hours = hours["hours"]
                priorities[str(key)] = float(hours)
            if "default" in body:
                if default is not None:
                    self.error(locs.key(body, "default"), None, "`sla.default` is defined twice")
                default = str(body["default"])
            for r in body.get("rules", []):
                rules.append(
                    SlaRule(str(r["name"]), str(r["priority"]), self._when(locs, r), locs.of(r))
                )
            for key, spec in body.get("escalation", {}).items():
                if key in escalation:
                    self.error(locs.key(body["escalation"], key), None, f"escalation `{key}` twice")
                then = spec["then"]
                escalation[str(key)] = Escalation(
                    priority=str(key),
                    after_hours=float(spec["after"]["hours"]),
                    clock=str(spec["after"].get("clock", "wall")),
                    times=int(spec.get("times", 1)),
                    then_rep=str(then["rep"]) if "rep" in then else None,
                    then_queue=str(then["queue"]) if "queue" in then else None,
                    loc=locs.key(body["escalation"], key),
                )
        return Sla(priorities, default, tuple(rules), escalation=escalation, clocks=clocks)

    def _max_wait(self, locs: FileLocs, route: Any) -> float | None:
        rule = route.get("when_unavailable")
        if rule is None or not rule["queue"]:
            return None
        if "max_wait" not in rule:
            self.error(
                locs.key(route, "when_unavailable"),
                str(route["name"]),
                "`queue: true` needs a bound",
                "add `max_wait: {hours: 16}`",
            )
            return None
        return float(rule["max_wait"]["hours"])

    def _working_time(self) -> WorkingTime:
        territories: dict[str, WorkingCalendar] = {}
        default = None
        for locs, body in self.maps.get("working_time", []):
            if "default" in body:
                if default is not None:
                    self.error(locs.key(body, "default"), None, "`working_time.default` twice")
                default = self._calendar(
                    locs, body["default"], "default", locs.key(body, "default")
                )
            for name, spec in body.get("territories", {}).items():
                if name in territories:
                    where = locs.key(body["territories"], name)
                    self.error(where, None, f"working time of territory `{name}` given twice")
                at = locs.key(body["territories"], name)
                territories[str(name)] = self._calendar(locs, spec, str(name), at)
        return WorkingTime(territories, default)

    def _calendar(self, locs: FileLocs, spec: Any, what: str, at: c.Loc) -> WorkingCalendar:
        """One calendar; a bad time zone, day, interval or holiday country is a located error."""
        hours = ALWAYS
        try:
            zone(str(spec["time_zone"]))
        except WorkTimeError as exc:
            self.error(locs.value(spec, "time_zone"), None, f"{exc.message} ({what})", exc.hint)
        try:
            hours = parse_hours({str(k): plain(v) for k, v in spec["hours"].items()})
        except WorkTimeError as exc:
            inner = spec["hours"]
            at = locs.key(inner, exc.what) if exc.what in inner else locs.key(spec, "hours")
            self.error(at, None, f"{exc.message} ({what})", exc.hint)
        country = str(spec["holiday_country"]) if "holiday_country" in spec else None
        sub = str(spec["holiday_subdivision"]) if "holiday_subdivision" in spec else None
        try:
            check_holidays(country, sub)
        except WorkTimeError as exc:
            at = locs.value(spec, exc.what) if exc.what in spec else locs.of(spec)
            self.error(at, None, f"{exc.message} ({what})", exc.hint)
        return WorkingCalendar(str(spec["time_zone"]), hours, country, sub, at)

    def _feedback(self, locs: FileLocs, n: Any) -> FeedbackRule:
        group = str(n["group_by"])
        adjust = n["adjust"]
        return FeedbackRule(
            name=str(n["name"]),
            type=str(n["type"]),
            reason=str(n["reason"]) if "reason" in n else None,
            group_by=group,
            only=str(n[group]) if group in n else None,
            at_least=int(n["at_least"]),
            within_days=float(n["within_days"]),
            score=str(adjust["score"]),
            delta=float(adjust["delta"]),
            duration_days=float(adjust["duration_days"]),
            loc=locs.of(n),
        )

    def _reasons(self) -> dict[str, tuple[str, ...]]:
        merged = self._merged_map("reasons")
        return {k: tuple(str(r["code"]) for r in v) for k, v in merged.items()}


def _catch_up(value: Any) -> int | None:
    """``none`` (the default) or ``{per_day: N}`` (the schema checked the shape)."""
    return int(value["per_day"]) if isinstance(value, dict) else None


def _stage_value_locs(locs: FileLocs, s: Any) -> dict[str, c.Loc]:
    """``initial``/``handoff`` and ``order.2``-style keys → where that value is written."""
    out = {key: locs.value(s, key) for key in ("initial", "handoff") if key in s}
    for key in ("order", "side", "manual"):
        for i, _ in enumerate(s.get(key, [])):
            out[f"{key}.{i}"] = locs.value(s[key], i)
    return out

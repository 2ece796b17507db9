"""One engine session per evaluator, reused from lead to lead (issue 9).

Creating a session is most of the engine's cost per evaluation: on the first fact of a new sid,
durable_rules' ``createStateNode`` mallocs and initialises frame pools and hash indexes for
every node of the ruleset, and ``delete_state`` frees them again (callgrind on the demo
rulebook: ~73 % of the raw engine loop). Matching itself is cheap. So the evaluator keeps one
sid and, after each evaluation, retracts every fact it asserted instead of deleting the session.

Protocol (the C engine read in jruizgit/rules, src/rules/events.c and state.c):

- Every fact carries its own ``id`` (an activity its index, the subjects negative numbers):
  unique within an evaluation, which is all the engine needs (it refuses a second fact with the
  same id in a session), and it spares the engine hashing every fact's content into an id.
  Facts are retracted by ``{"id", "sid"}`` alone (the engine finds the stored fact by id and
  unlinks it from the frames it is in); the subject facts first, then the activities:
  retracting an activity while the subject is still there re-evaluates ``$not`` patterns and
  fires them (measured).
- Retracting a fact deletes every frame that references it (left, right, action frames), so
  once all facts are gone the session holds only the engine's own state fact, which only the
  catch-all tests (it fired once, when the session was created: rules.compiler.CATCH_ALLS).
  Every action was walked to the end (``complete_and_start_action`` until none), which
  leaves the session unlocked.
- After the retraction the session is checked: no fact but the state fact (``get_facts``) and
  no pending action (``start_action_for_state``). If either is found, or anything raised, the
  session is not reused: a clean-but-unexpected session is deleted (an action always ran in
  it, the catch-all, so ``delete_state`` is safe), and a session where the engine failed is
  leaked, as before (``delete_state`` after error 303 aborts the process; pool workers exit
  after an engine error). The next evaluation starts a fresh sid. Nothing is carried from
  one lead to the next.
- ``delete_ruleset`` frees a ruleset but not its sessions' frame pools: the evaluator deletes
  its session before closing its rulesets (an old rulebook version in a worker).
"""

from __future__ import annotations

from collections.abc import Sequence

from rules.engine import EngineRuleset
from rules.errors import EngineError

SUBJECT_1_ID = -2
"""Engine ``id`` of the round-1 subject fact (activities are numbered from 0)."""
SUBJECT_2_ID = -4
"""Engine ``id`` of the round-2 subject fact."""


class Sessions:
    """The sid an evaluator asserts into, in every one of its engine rulesets."""

    def __init__(self, rulesets: Sequence[EngineRuleset], *, reuse: bool = True) -> None:
        self._rulesets = rulesets
        self.reuse = reuse
        self.sid: str | None = None
        self.leaked = 0
        """Sessions not deleted because the engine failed inside them."""
        self.discarded = 0
        """Sessions deleted because, after retraction, they were not like a fresh one."""
        self._texts: list[str] = []
        """Retraction text of fact ids 0, 1, … in the current session."""
        self._subjects: dict[int, str] = {}

    def open(self) -> str:
        if self.sid is None:
            self.sid = sid = self._rulesets[0].new_sid()
            self._texts = []
            self._subjects = {
                i: f'{{"id":{i},"sid":"{sid}"}}' for i in (SUBJECT_1_ID, SUBJECT_2_ID)
            }
        return self.sid

    def _retraction(self, ids: Sequence[int]) -> str:
        texts, subjects = self._texts, self._subjects
        top = max(ids) + 1
        if top > len(texts):
            sid = self.sid
            texts += [f'{{"id":{i},"sid":"{sid}"}}' for i in range(len(texts), top)]
        return "[" + ",".join([texts[i] if i >= 0 else subjects[i] for i in ids]) + "]"

    def finish(self, asserted: Sequence[Sequence[int]]) -> None:
        """After a successful evaluation: retract ``asserted`` (per ruleset, the ids of every
        fact, in the order to retract) and keep the session, or delete it when reuse is off or
        the session is not clean."""
        sid = self.sid
        if sid is None:
            return
        if not self.reuse:
            self.discard()
            return
        try:
            for ruleset, ids in zip(self._rulesets, asserted, strict=True):
                if ids:
                    ruleset.retract_facts(self._retraction(ids))
            clean = all(r.is_clean(sid) for r, t in zip(self._rulesets, asserted, strict=True) if t)
        except EngineError:
            self.leak()
            raise
        if not clean:
            self.discarded += 1
            self.discard()

    def leak(self) -> None:
        """The engine failed in this session: never touch it again (see the module doc)."""
        if self.sid is not None:
            self.sid = None
            self.leaked += 1

    def discard(self) -> None:
        """Delete the session in every ruleset; the next evaluation starts a fresh one."""
        sid, self.sid = self.sid, None
        if sid is not None:
            for ruleset in self._rulesets:
                try:
                    ruleset.delete(sid)
                except EngineError as exc:  # this ruleset never saw the sid (error 309)
                    if "error code: 309" not in str(exc):
                        raise

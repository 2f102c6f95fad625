"""The verdict: one type for what a probe concluded, with every way it is shown.

The JSON contract writes a verdict as `true`, `false` or `null` (`Verdict.json`); the
template writes True, False or Inconclusive (`label`); its symptom table says
Confirmed, Refuted or Unknown (`symptom_word`). Colours live here too, so that a
badge, a chart and a table can never disagree about what red means.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Verdict(StrEnum):
    TRUE = "true"
    FALSE = "false"
    INCONCLUSIVE = "inconclusive"

    @property
    def label(self) -> str:
        """As the incident template writes a result: True, False, Inconclusive."""
        return _LABELS[self]

    @property
    def json(self) -> bool | None:
        """As the JSON contract writes it: true, false, null."""
        return _JSON[self]

    @property
    def colour(self) -> str:
        """A badge's colour: red when the hypothesis holds, green when refuted, grey unknown."""
        return _COLOURS[self]

    @property
    def symptom_word(self) -> str:
        return _SYMPTOM_WORDS[self]

    @property
    def symptom_colour(self) -> str:
        """The template's symptom table marks the unknown yellow, not grey."""
        return _SYMPTOM_COLOURS[self]

    @classmethod
    def from_json(cls, value: object) -> Verdict:
        """From `true`/`false`/`null` (or a verdict's own text, which results of any schema hold)."""
        if isinstance(value, Verdict):
            return value
        if value is True:
            return cls.TRUE
        if value is False:
            return cls.FALSE
        if value is None:
            return cls.INCONCLUSIVE
        if isinstance(value, str) and value in cls._value2member_map_:
            return cls(value)
        raise ValueError(f"not a verdict: {value!r}")


_LABELS = {Verdict.TRUE: "True", Verdict.FALSE: "False", Verdict.INCONCLUSIVE: "Inconclusive"}
_JSON = {Verdict.TRUE: True, Verdict.FALSE: False, Verdict.INCONCLUSIVE: None}
_COLOURS = {Verdict.TRUE: "#c62828", Verdict.FALSE: "#2e7d32", Verdict.INCONCLUSIVE: "#616161"}
_SYMPTOM_WORDS = {Verdict.TRUE: "Confirmed", Verdict.FALSE: "Refuted", Verdict.INCONCLUSIVE: "Unknown"}
_SYMPTOM_COLOURS = {Verdict.TRUE: "#c62828", Verdict.FALSE: "#2e7d32", Verdict.INCONCLUSIVE: "#f9a825"}


def count_verdicts(verdicts: Iterable[Verdict]) -> dict[str, int]:
    """How many of each, keyed by label, every label present: what summaries and `list` show."""
    counts = dict.fromkeys(_LABELS.values(), 0)
    for verdict in verdicts:
        counts[verdict.label] += 1
    return counts

"""Just enough PromQL to re-run an alert: its expression from a `generatorURL`, and the
side of its top-level comparison that carries the data.

An alert's expression returns series only while its condition holds, so an empty
answer means either "not firing" or "no data". Evaluating the data side
(`rate(errors[5m]) / rate(requests[5m])` of `… > 0.05`) tells the two apart, and
gives the chart its threshold line.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

COMPARISONS = ("==", "!=", ">=", "<=", ">", "<")
SET_OPERATORS = ("and", "or", "unless")
OPENING, CLOSING = "([{", ")]}"


def expression_of(generator_url: str) -> str:
    """The PromQL of a Prometheus `generatorURL` (its `g0.expr`); `ValueError` when it has none."""
    found = parse_qs(urlsplit(generator_url.strip()).query).get("g0.expr")
    if not found or not found[0].strip():
        raise ValueError("the generatorURL has no g0.expr query parameter (the alert's expression)")
    return found[0].strip()


@dataclass(frozen=True)
class Comparison:
    """`data operator other`, e.g. `rate(errors[5m]) > 0.05`; `threshold` when `other` is a number."""

    data: str
    operator: str
    other: str

    @property
    def threshold(self) -> float | None:
        words = self.other.split("#")[0].split()  # a comment runs to the end of the line
        number = words[-1] if words[:-1] in ([], ["bool"]) else ""
        try:
            return float(number)
        except ValueError:
            return None

    @property
    def worse(self) -> int:
        """1 when the alert fires on high values, -1 on low ones, 0 for (in)equality."""
        return 1 if self.operator in (">", ">=") else -1 if self.operator in ("<", "<=") else 0


def top_level_comparison(expression: str) -> Comparison | None:
    """The expression's single comparison outside any brackets or strings, or None when
    it has none, several, or a set operator (`and`, `or`, `unless`) beside it."""
    found: list[tuple[int, str]] = []
    depth, index, quote = 0, 0, ""
    text = expression
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\" and quote != "`":
                index += 1
            elif char == quote:
                quote = ""
        elif char in "\"'`":
            quote = char
        elif char == "#":  # a comment runs to the end of the line
            newline = text.find("\n", index)
            index = len(text) if newline < 0 else newline
        elif char in OPENING:
            depth += 1
        elif char in CLOSING:
            depth -= 1
        elif depth == 0:
            operator = next((op for op in COMPARISONS if text.startswith(op, index)), "")
            if operator:
                found.append((index, operator))
                index += len(operator)
                continue
            word = _word_at(text, index)
            if word.lower() in SET_OPERATORS:
                return None
            index += max(len(word), 1)
            continue
        index += 1
    if len(found) != 1:
        return None
    at, operator = found[0]
    data, other = text[:at].strip(), text[at + len(operator) :].strip()
    return Comparison(data, operator, other) if data and other else None


def _word_at(text: str, index: int) -> str:
    """The identifier starting at `index`, if one starts there (and not inside another)."""
    if index > 0 and (text[index - 1].isalnum() or text[index - 1] in "_:"):
        return ""
    end = index
    while end < len(text) and (text[end].isalnum() or text[end] in "_:"):
        end += 1
    return text[index:end]

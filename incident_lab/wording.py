"""Small wording helpers shared by probes' summaries and the report."""

import string


def seconds(value: float | None) -> str:
    """A duration as people say it: `850 ms`, `42 s`, `12 min`, `3.5 h`."""
    if value is None:
        return "unknown time"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.0f} min"
    return f"{value / 3600:.1f} h"


def truncate(text: str | None, limit: int) -> str | None:
    """One line of at most `limit` characters, marked when cut."""
    if text is None:
        return None
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def hypothesis_letter(index: int) -> str:
    letters = string.ascii_uppercase
    return letters[index] if index < len(letters) else f"{letters[index // 26 - 1]}{letters[index % 26]}"

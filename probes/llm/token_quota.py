"""Hypothesis: the AI agent's LLM provider refuses it for token rate limits or quota."""

from pathlib import Path
from typing import Annotated

from incident_lab import Bounds, Finding, confirmed, inconclusive, probe, refuted
from incident_lab.kinds.llm import charts
from incident_lab.kinds.llm.providers import LlmSession
from incident_lab.kinds.llm.ratelimits import RATE_KINDS, QuotaEvidence

SHARE = Bounds(min=0, max=1)


@probe(
    "llm.token_quota",
    hypothesis="AI Agent token limit exceeded: the LLM provider refuses requests for token rate or quota",
    test="Read rate-limit headers from the cheapest call that returns them, classify refusals, and read "
    "the admin usage API and the agent's exported responses when available",
    target="llm",
    budget_seconds=20.0,
    chart=charts.tokens_remaining,
)
def token_quota(
    llm: LlmSession,
    *,
    provider: Annotated[str, "openai, anthropic, azure, openrouter or litellm; empty: the target's"] = "",
    base_url: Annotated[str, "the provider's base URL; empty: the target's, its variable or default"] = "",
    model: Annotated[str, "model (Azure: deployment) to ask and to count usage for; empty: default"] = "",
    export_path: Annotated[str, "the agent's own responses, JSONL or CSV with status, headers, body"] = "",
    send_request: Annotated[bool, "send a 1-token request when free calls show no rate-limit headers"] = True,
    usage_minutes: Annotated[
        int, "minutes of admin usage to read, in one-minute buckets", Bounds(1, 1440)
    ] = 15,
    tokens_per_minute_limit: Annotated[
        float, "token limit per minute for usage; 0: from the headers", Bounds(min=0)
    ] = 0.0,
    key_variable: Annotated[str, "environment variable holding the API key; empty: usual one"] = "",
    admin_key_variable: Annotated[str, "environment variable holding the admin key; empty: usual"] = "",
    min_token_errors: Annotated[int, "token-rate refusals that count as repeating", Bounds(min=1)] = 3,
    min_token_error_share: Annotated[float, "…and the share of answers they must reach", SHARE] = 0.05,
    low_headroom: Annotated[float, "share of a limit left that confirms, with a token 429", SHARE] = 0.05,
    healthy_headroom: Annotated[float, "share of a limit left that refutes, if no 429s", SHARE] = 0.20,
    high_utilisation: Annotated[
        float, "share of the per-minute limit used that counts as full", SHARE
    ] = 0.95,
    high_utilisation_minutes: Annotated[int, "consecutive full minutes that confirm", Bounds(1, 1440)] = 2,
) -> Finding:
    api = llm.api(provider, base_url, model, key_variable=key_variable, admin_key_variable=admin_key_variable)
    seen = QuotaEvidence(api.name, model or None, tokens_per_minute_limit)
    if export_path:
        seen.read_export(Path(export_path).expanduser())
    if api.offers("usage") and api.has_admin_key:
        seen.read_usage(api.usage(usage_minutes))
    elif api.offers("usage"):
        seen.note("usage_api", False, f"{api.admin_key_variable} is not set")
    if not api.has_key:
        seen.note("live", False, f"no call made: {api.key_variable} is not set")
    else:
        if api.offers("account"):
            seen.read_account(api.account())
        listing = api.models()
        seen.read_live(listing)
        # A token costs money: spend one only when the free calls left the headroom unknown.
        wanted = (
            listing.status not in (None, 401, 403) and not seen.tightest() and not seen.count("hard_quota")
        )
        if wanted and not send_request:
            seen.note("live", False, "no 1-token request: send_request is off")
        elif wanted and not api.model:
            seen.note("live", False, f"no 1-token request: {api.name} needs model= (the deployment name)")
        elif wanted:
            seen.read_live(api.ping(), model=api.model)

    details = {"evidence": seen.tables(), "metrics": seen.metrics()}
    token_errors = seen.count("rate_tokens")
    rate_errors = sum(seen.count(kind) for kind in RATE_KINDS)
    share = token_errors / seen.answers if seen.answers else 0.0
    tightest = seen.tightest()  # (share of a limit left, where it was seen)
    busy = seen.busy_minutes(high_utilisation)

    if hard := seen.first("hard_quota"):
        return confirmed(
            f"A hard quota was hit ({hard.describe()}): the provider refuses until the plan, "
            "credit or budget changes; retrying will not help.",
            hints=["Raise the spend limit, budget or credit, or switch the agent to another key."],
            **details,
        )
    if too_large := seen.first("request_too_large"):
        return confirmed(
            f"Single requests exceed the whole per-minute token limit ({too_large.describe()}): "
            "they fail every time, whatever the headroom.",
            hints=["Shorten the agent's prompts or max output, or ask the provider for a higher limit."],
            **details,
        )
    if token_errors >= min_token_errors and share >= min_token_error_share:
        return confirmed(
            f"Token-rate refusals repeat: {token_errors} of {seen.answers} answers ({share:.0%}) were "
            "429s for tokens per minute.",
            hints=["Back off and retry with jitter, spread load across keys, or raise the TPM limit."],
            **details,
        )
    if token_errors and tightest and tightest[0] <= low_headroom:
        return confirmed(
            f"The token limit is exhausted: {tightest[1]} with {token_errors} token-rate 429(s).",
            hints=["Back off until the reset, or raise the TPM limit."],
            **details,
        )
    if busy >= high_utilisation_minutes:
        return confirmed(
            f"Usage stayed at or above {high_utilisation:.0%} of the per-minute token limit for "
            f"{busy} minutes in a row.",
            **details,
        )
    if rejected := seen.rejected():
        return inconclusive(
            f"The provider rejected the key ({rejected[0].describe()}): check {api.key_variable}.", **details
        )
    alternatives = seen.alternatives()
    if alternatives and not rate_errors:
        causes = ", ".join(f"{cause} ({count})" for cause, count in alternatives.items())
        return refuted(f"The failures are not the token quota: {causes}.", **details)
    if tightest and tightest[0] >= healthy_headroom and not rate_errors:
        return refuted(
            f"Headroom stayed at or above {healthy_headroom:.0%}: tightest {tightest[1]}.", **details
        )
    if not seen.usable():
        unread = f" Could not parse: {'; '.join(seen.unparsable())}." if seen.unparsable() else ""
        return inconclusive(f"No usable signal. {seen.overview()}.{unread}", **details)
    return inconclusive(
        "The signals fall between the thresholds: "
        f"{rate_errors} rate-limit refusal(s) of {seen.answers} answers"
        + (f", tightest {tightest[1]}" if tightest else ", no headroom reading")
        + f" (confirm at ≤{low_headroom:.0%} with a token 429, refute at ≥{healthy_headroom:.0%}).",
        **details,
    )

"""Hypothesis: the AI agent's LLM provider refuses it for token rate limits or quota."""

from pathlib import Path
from typing import Annotated

from incident_lab import Bounds, Finding, confirmed, inconclusive, probe, refuted
from incident_lab.kinds.llm import charts
from incident_lab.kinds.llm.otel import ExportTooLarge
from incident_lab.kinds.llm.providers import LlmSession
from incident_lab.kinds.llm.ratelimits import ALTERNATIVE_CAUSES, RATE_KINDS, QuotaEvidence

SHARE = Bounds(min=0, max=1)


@probe(
    "llm.token_quota",
    hypothesis="AI Agent token limit exceeded: the LLM provider refuses requests for token rate or quota",
    test="Read rate-limit headers from the cheapest call that returns them, classify refusals, and read "
    "the admin usage API and the agent's exported responses or OpenTelemetry spans when available",
    target="llm",
    budget_seconds=20.0,
    chart=charts.tokens_remaining,
)
def token_quota(
    llm: LlmSession,
    *,
    provider: Annotated[
        str,
        "openai, anthropic, azure, openrouter, litellm, gemini, vertex, bedrock, mistral; empty: target's",
    ] = "",
    base_url: Annotated[str, "the provider's base URL; empty: the target's, its variable or default"] = "",
    model: Annotated[str, "model (Azure: deployment) to ask and to count usage for; empty: default"] = "",
    export_path: Annotated[str, "the agent's responses (JSONL/CSV) or OpenTelemetry spans (OTLP/JSON)"] = "",
    send_request: Annotated[bool, "send a 1-token request when free calls show no rate-limit headers"] = True,
    usage_minutes: Annotated[
        int, "minutes of admin usage to read, in one-minute buckets", Bounds(1, 1440)
    ] = 15,
    tokens_per_minute_limit: Annotated[
        float, "token limit per minute for usage; 0: from the headers", Bounds(min=0)
    ] = 0.0,
    key_variable: Annotated[str, "variable holding the API key (Vertex: a bearer token); empty: usual"] = "",
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
    seen = QuotaEvidence(api.name, model or None, tokens_per_minute_limit, key_label=api.key_hint)
    if export_path:
        try:
            seen.read_export(Path(export_path).expanduser())
        except ExportTooLarge as refused:  # the user pointed here: no verdict without it, none from a part
            return inconclusive(f"Not read: {refused}.")
    if api.offers("usage") and api.has_admin_key:
        seen.read_usage(api.usage(usage_minutes))
    elif api.offers("usage"):
        seen.note("usage_api", False, f"{api.admin_key_variable} is not set")
    if not api.has_key:
        seen.note("live", False, f"no call made: {api.missing_key}")
    else:
        if api.offers("account"):
            seen.read_account(api.account())
        listing = api.models() if api.offers("models") else None
        if listing is not None:
            seen.read_live(listing)
        # A token costs money: spend one only when the free calls left the headroom unknown.
        answered = listing is None or listing.status is not None
        wanted = answered and not seen.rejected() and not seen.tightest() and not seen.count("hard_quota")
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
    wait = seen.reset_time("minute", "second", tokens=True)  # when the spent token limit resets
    resets = f" It resets at {wait}." if wait else ""

    if hard := seen.first("hard_quota"):
        return confirmed(
            f"A hard quota was hit ({seen.spent(hard)}): the provider refuses until the plan, "
            "credit, budget or quota changes; retrying will not help.",
            hints=seen.remedies("hard_quota") or ["Raise the spend limit, budget or credit, or switch keys."],
            **details,
        )
    if daily := seen.first("daily_quota"):
        day = seen.reset_time("day")
        return confirmed(
            f"A daily quota is spent ({seen.spent(daily)}); it resets "
            + (f"at {day}" if day else "with the provider's day, at a time it does not give")
            + ": retrying before the reset is pointless.",
            hints=[
                *([f"Wait until {day} for the quota to come back."] if day else []),
                *seen.remedies("daily_quota"),
            ],
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
            f"429s for tokens per minute.{resets}",
            hints=[
                "Back off and retry with jitter, spread load across keys, or raise the TPM limit.",
                *seen.remedies("rate_tokens"),
            ],
            **details,
        )
    if token_errors and tightest and tightest[0] <= low_headroom:
        return confirmed(
            f"The token limit is exhausted: {tightest[1]} with {token_errors} token-rate 429(s).{resets}",
            hints=[
                f"Back off until {wait or 'the reset'}, or raise the TPM limit.",
                *seen.remedies("rate_tokens"),
            ],
            **details,
        )
    if (busy := seen.busy_minutes(high_utilisation)) >= high_utilisation_minutes:
        return confirmed(
            f"Usage stayed at or above {high_utilisation:.0%} of the per-minute token limit for "
            f"{busy} minutes in a row.",
            **details,
        )
    if rejected := seen.rejected():
        return inconclusive(
            f"The provider rejected {api.key_hint} ({rejected[0].describe()}).{seen.unread()}", **details
        )
    if (alternatives := seen.alternatives()) and not rate_errors:
        causes = ", ".join(f"{cause} ({count})" for cause, count in alternatives.items())
        return refuted(
            f"The failures are not the token quota: {causes}.",
            hints=seen.remedies(*ALTERNATIVE_CAUSES),
            **details,
        )
    if tightest and tightest[0] >= healthy_headroom and not rate_errors:
        return refuted(
            f"Headroom stayed at or above {healthy_headroom:.0%}: tightest {tightest[1]}.", **details
        )
    if seen.accepted and not api.reports_headroom and not rate_errors:
        return refuted(
            f"{api.name} served a 1-token request for {api.model} just now and no answer was a rate-limit "
            "refusal; it sends no remaining-quota headers, so this is the headroom reading there is.",
            **details,
        )
    if not seen.usable():
        return inconclusive(f"No usable signal. {seen.overview()}.{seen.unread()}", **details)
    return inconclusive(
        "The signals fall between the thresholds: "
        f"{rate_errors} rate-limit refusal(s) of {seen.answers} answers"
        + (f", tightest {tightest[1]}" if tightest else ", no headroom reading")
        + f" (confirm at ≤{low_headroom:.0%} with a token 429, refute at ≥{healthy_headroom:.0%})."
        + seen.unread(),
        **details,
    )

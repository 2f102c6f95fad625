"""The `llm` kind: an LLM provider's API, as `PROVIDER`, `PROVIDER@BASE_URL` or `BASE_URL`.

`providers` knows each provider's endpoints and key variables, `ratelimits` reads
what providers say about their limits into evidence and the headroom table, with the
refusals of each family read by `google` (Gemini, Vertex AI), `bedrock` (which also
signs) and `ratelimits` itself (OpenAI-style bodies, Anthropic, Mistral), into the kinds
of `refusals`; `otel` reads OpenTelemetry span exports, `statuspage` status pages.
Keys never appear in a reference: they come from each provider's usual variables.
"""

from __future__ import annotations

from incident_lab.kinds import DefaultHypothesis, TargetKind
from incident_lab.kinds.llm.providers import LlmSession, LlmTarget

__all__ = ["KIND", "LlmKind", "LlmSession", "LlmTarget"]


class LlmKind(TargetKind):
    name = "llm"
    description = "an LLM provider: openai, anthropic@https://…, gemini, bedrock, … or a base URL"
    default_hypotheses = (DefaultHypothesis("llm.token_quota"), DefaultHypothesis("llm.provider_status"))

    def parse(self, reference: str) -> LlmTarget:
        return LlmTarget.parse(reference)


KIND = LlmKind()

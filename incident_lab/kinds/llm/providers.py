"""LLM provider targets: which provider, at which base URL, with which keys.

A reference is `PROVIDER`, `PROVIDER@BASE_URL` or a bare `BASE_URL`:

    llm=openai                                   # OPENAI_BASE_URL, else https://api.openai.com/v1
    llm=anthropic@https://gateway.example/anthropic
    llm=azure@https://my-resource.openai.azure.com
    llm=https://openrouter.ai/api/v1             # the provider is guessed from the host
    llm=gemini                                   # GOOGLE_API_KEY or GEMINI_API_KEY
    llm=vertex                                   # GOOGLE_CLOUD_PROJECT, GOOGLE_CLOUD_LOCATION
    llm=bedrock                                  # AWS_REGION, AWS credentials
    llm=mistral                                  # MISTRAL_API_KEY

Providers: openai, anthropic, azure, openrouter, litellm (a LiteLLM proxy), gemini (the
Gemini API), vertex (Gemini on Vertex AI, with an OAuth bearer token), bedrock (AWS
Bedrock's Converse API, SigV4-signed or with a Bedrock API key) and mistral. A key never
appears in a reference: each provider reads its usual environment variables (see
`PROVIDERS`), and every key is registered for redaction the moment it is read.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode, urlsplit

from incident_lab.exceptions import TargetError
from incident_lab.kinds.http.session import HttpSession, Response, check_url, safe_url
from incident_lab.kinds.llm import bedrock
from incident_lab.redaction import register_secrets
from incident_lab.result import utc_now

if TYPE_CHECKING:
    from incident_lab.probe import Probe

ANTHROPIC_VERSION = "2023-06-01"
REQUEST_TIMEOUT = 10.0
MAX_USAGE_PAGES = 20
MAX_USAGE_MINUTES = 1440  # the most one-minute buckets either usage API returns per page


@dataclass(frozen=True)
class Provider:
    name: str
    base_url: str
    base_url_variable: str | None
    key_variable: str
    admin_key_variable: str | None
    default_model: str  # empty: the user must name one (Azure deployments have their own names)
    status_url: str | None
    paths: Mapping[str, str]  # generate, and where they exist: models, account, usage ({model} filled in)
    max_tokens_field: str = "max_tokens"
    auth: str = "bearer"  # bearer, x-api-key, api-key, x-goog-api-key, or sigv4 (Bedrock)
    fallback_key_variables: tuple[str, ...] = ()  # read after key_variable, in order
    request: str = "chat"  # the 1-token request's shape: chat, gemini or converse
    # Whether the provider sends remaining-quota headers; where it never does, a served
    # 1-token request is the only headroom reading there is.
    reports_headroom: bool = True

    @property
    def key_variables(self) -> tuple[str, ...]:
        return (self.key_variable, *self.fallback_key_variables)


_OPENAI_STYLE = {"models": "/models", "generate": "/chat/completions"}

PROVIDERS: dict[str, Provider] = {
    "openai": Provider(
        "openai",
        "https://api.openai.com/v1",
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "OPENAI_ADMIN_KEY",
        "gpt-4o-mini",
        "https://status.openai.com/api/v2/summary.json",
        {**_OPENAI_STYLE, "usage": "/organization/usage/completions"},
        # Newer OpenAI models refuse `max_tokens`; every chat model takes this one.
        max_tokens_field="max_completion_tokens",
    ),
    "anthropic": Provider(
        "anthropic",
        "https://api.anthropic.com",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_ADMIN_KEY",
        "claude-haiku-4-5",
        "https://status.claude.com/api/v2/summary.json",
        {
            "models": "/v1/models",
            "generate": "/v1/messages",
            "usage": "/v1/organizations/usage_report/messages",
        },
    ),
    "azure": Provider(
        "azure",
        "",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_API_KEY",
        None,
        "",
        None,
        _OPENAI_STYLE,
        max_tokens_field="max_completion_tokens",
    ),
    "openrouter": Provider(
        "openrouter",
        "https://openrouter.ai/api/v1",
        "OPENROUTER_BASE_URL",
        "OPENROUTER_API_KEY",
        None,
        "openai/gpt-4o-mini",
        None,
        {**_OPENAI_STYLE, "account": "/key"},
    ),
    "litellm": Provider(
        "litellm",
        "http://localhost:4000",
        "LITELLM_PROXY_API_BASE",
        "LITELLM_PROXY_API_KEY",
        None,
        "gpt-4o-mini",
        None,
        {"models": "/v1/models", "generate": "/v1/chat/completions", "account": "/key/info"},
    ),
    "gemini": Provider(
        "gemini",
        "https://generativelanguage.googleapis.com/v1beta",
        None,
        # google-genai reads GOOGLE_API_KEY first when both are set.
        "GOOGLE_API_KEY",
        None,
        "gemini-2.5-flash",
        None,
        {"models": "/models", "generate": "/models/{model}:generateContent"},
        auth="x-goog-api-key",
        fallback_key_variables=("GEMINI_API_KEY",),
        request="gemini",
        reports_headroom=False,
    ),
    "vertex": Provider(
        "vertex",
        "",  # from GOOGLE_CLOUD_PROJECT and GOOGLE_CLOUD_LOCATION
        None,
        "GOOGLE_OAUTH_ACCESS_TOKEN",
        None,
        "gemini-2.5-flash",
        None,
        {"generate": "/publishers/google/models/{model}:generateContent"},
        request="gemini",
        reports_headroom=False,
    ),
    "bedrock": Provider(
        "bedrock",
        "",  # https://bedrock-runtime.{AWS_REGION}.amazonaws.com
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
        bedrock.BEARER_VARIABLE,
        None,
        "amazon.nova-micro-v1:0",
        None,
        {"generate": "/model/{model}/converse"},
        auth="sigv4",
        request="converse",
        reports_headroom=False,
    ),
    "mistral": Provider(
        "mistral",
        "https://api.mistral.ai/v1",
        None,
        "MISTRAL_API_KEY",
        None,
        "mistral-small-latest",
        None,
        _OPENAI_STYLE,
    ),
}
VERTEX_PROJECT_VARIABLE, VERTEX_LOCATION_VARIABLE = "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION"
# Secrets that no output may show, whichever provider the probe calls.
OTHER_SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")

_HOSTS = {
    "api.openai.com": "openai",
    "api.anthropic.com": "anthropic",
    "openrouter.ai": "openrouter",
    "generativelanguage.googleapis.com": "gemini",
    "api.mistral.ai": "mistral",
}


def provider_named(name: str) -> Provider:
    try:
        return PROVIDERS[name.strip().lower()]
    except KeyError:
        raise TargetError(f"unknown LLM provider {name!r} (known: {', '.join(PROVIDERS)})") from None


def guess_provider(url: str) -> Provider:
    """The provider a base URL belongs to; any other host is taken as OpenAI-compatible."""
    host = urlsplit(url).hostname or ""
    if host.endswith((".openai.azure.com", ".cognitiveservices.azure.com")):
        return PROVIDERS["azure"]
    if host.endswith("aiplatform.googleapis.com"):
        return PROVIDERS["vertex"]
    if bedrock.region_of(host):
        return PROVIDERS["bedrock"]
    return PROVIDERS[_HOSTS.get(host, "openai")]


def resolve_base_url(provider: Provider, given: str | None) -> str:
    """The base URL to call: the one given, else the provider's variable, else its default."""
    variable = provider.base_url_variable
    url = given or (os.environ.get(variable) if variable else None) or provider.base_url
    if not url and provider.name == "vertex":
        url = _vertex_url()
    if not url and provider.name == "bedrock":
        region = bedrock.configured_region()
        url = f"https://bedrock-runtime.{region}.amazonaws.com" if region else ""
        variable = f"{' or '.join(bedrock.REGION_VARIABLES)}, or {variable},"
    if not url:
        raise TargetError(f"{provider.name} needs a base URL: set {variable} or write {provider.name}@URL")
    url = check_url(url, f"{provider.name} base URL").rstrip("/")
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise TargetError(f"{provider.name} base URL takes no query or fragment: {safe_url(url)}")
    if provider.name == "azure" and "/openai" not in parts.path:
        url += "/openai/v1"  # an endpoint as the Azure portal shows it; the v1 API lives here
    if provider.name == "litellm":
        url = url.removesuffix("/v1")  # the proxy's own routes (/key/info) sit at its root
    return url


def _vertex_url() -> str:
    """Vertex AI's endpoint for the project and location that google-genai would use."""
    project = os.environ.get(VERTEX_PROJECT_VARIABLE)
    if not project:
        raise TargetError(
            f"vertex needs a project: set {VERTEX_PROJECT_VARIABLE} (and {VERTEX_LOCATION_VARIABLE}), "
            "or write vertex@https://LOCATION-aiplatform.googleapis.com/v1/projects/PROJECT/locations/LOCATION"
        )
    location = os.environ.get(VERTEX_LOCATION_VARIABLE) or "global"
    host = "aiplatform.googleapis.com" if location == "global" else f"{location}-aiplatform.googleapis.com"
    return f"https://{host}/v1/projects/{project}/locations/{location}"


def register_known_keys() -> None:
    """Register every provider key in the environment, used or not, so no output shows one."""
    variables = {v for p in PROVIDERS.values() for v in (*p.key_variables, p.admin_key_variable) if v}
    register_secrets(os.environ.get(variable) for variable in [*variables, *OTHER_SECRET_VARIABLES])


@dataclass(frozen=True)
class LlmTarget:
    """An LLM provider's API, as `PROVIDER`, `PROVIDER@BASE_URL` or `BASE_URL`."""

    provider: str
    given_url: str | None
    label: str

    @classmethod
    def parse(cls, reference: str) -> LlmTarget:
        reference = reference.strip()
        name, sep, url = reference.partition("@")
        if "://" in name:  # a bare URL (an @ in it could only be credentials, which check_url refuses)
            given: str | None = check_url(reference, "LLM base URL")
            provider = guess_provider(reference)
        else:
            provider = provider_named(name)
            if sep and not url.strip():
                raise TargetError(f"nothing after {name}@: write {name}@https://… or just {name}")
            given = url.strip() or None
        base = resolve_base_url(provider, given)
        return cls(provider.name, given, f"{provider.name}@{safe_url(base)}")

    @contextmanager
    def session(self, probe: Probe, budget_seconds: float) -> Iterator[LlmSession]:
        with LlmSession(self, budget_seconds) as session:
            yield session


class LlmSession(HttpSession):
    """The opened target handed to an LLM probe: HTTP within the budget, plus the provider."""

    def __init__(self, target: LlmTarget, budget_seconds: float) -> None:
        super().__init__(budget_seconds)
        self.target = target
        register_known_keys()

    def api(
        self,
        provider: str = "",
        base_url: str = "",
        model: str = "",
        *,
        key_variable: str = "",
        admin_key_variable: str = "",
    ) -> ProviderApi:
        """The provider's API as the probe's parameters adjust the target: another
        provider at the target's URL (a gateway), another URL, other key variables."""
        spec = provider_named(provider or self.target.provider)
        url = resolve_base_url(spec, base_url or self.target.given_url)
        variables = (key_variable,) if key_variable else spec.key_variables
        key_variable, key = next(
            ((name, os.environ[name]) for name in variables if os.environ.get(name)), (variables[0], None)
        )
        admin_key_variable = admin_key_variable or spec.admin_key_variable or ""
        admin_key = (os.environ.get(admin_key_variable) if admin_key_variable else None) or None
        register_secrets([key, admin_key])
        signer = None
        if spec.auth == "sigv4" and key is None:
            signer = bedrock.signer(
                bedrock.region_of(urlsplit(url).hostname or "") or bedrock.configured_region()
            )
        return ProviderApi(
            self,
            spec,
            url,
            model or spec.default_model,
            key,
            admin_key,
            key_variable,
            admin_key_variable,
            signer,
            missing=" nor ".join(variables) if len(variables) > 1 else variables[0],
        )

    def status_url(self, given: str = "") -> str | None:
        """The Statuspage `summary.json` to read: the one given (a page's root is completed),
        else the target provider's."""
        if not given:
            return provider_named(self.target.provider).status_url
        url = check_url(given, "status URL").rstrip("/")
        return url if urlsplit(url).path.endswith(".json") else f"{url}/api/v2/summary.json"


class ProviderApi:
    """One provider's endpoints as the probes call them. It holds the keys and shows neither."""

    def __init__(
        self,
        session: HttpSession,
        provider: Provider,
        base_url: str,
        model: str,
        key: str | None,
        admin_key: str | None,
        key_variable: str,
        admin_key_variable: str,
        signer: bedrock.Signer | None = None,
        *,
        missing: str = "",
    ) -> None:
        self.session = session
        self.provider = provider
        self.base_url = base_url
        self.model = model
        self.key_variable = key_variable
        self.admin_key_variable = admin_key_variable
        self._key = key
        self._admin_key = admin_key
        self._signer = signer
        self._missing = missing or key_variable

    def __repr__(self) -> str:
        return f"<ProviderApi {self.name} at {safe_url(self.base_url)}>"

    @property
    def name(self) -> str:
        return self.provider.name

    @property
    def has_key(self) -> bool:
        return self._key is not None or (self._signer is not None and not self._signer.missing)

    @property
    def missing_key(self) -> str:
        """Why no call can be made, when `has_key` is false."""
        if self._signer is not None:
            # The signer may already offer the bearer-token variable as a way out: name it once.
            missing = self._signer.missing
            return missing if self.key_variable in missing else f"{missing} (or set {self.key_variable})"
        if " nor " in self._missing:
            return f"neither {self._missing} is set"
        return f"{self._missing} is not set"

    @property
    def key_hint(self) -> str:
        """Which key was used, masked: the variable and the key's last four characters."""
        if self._key is None and self._signer is not None:
            access = str(getattr(self._signer.credentials, "access_key", "") or "")
            return (
                f"the AWS credentials (access key …{access[-4:]})"
                if len(access) >= 16
                else "the AWS credentials"
            )
        key = self._key or ""
        return f"{self.key_variable} (…{key[-4:]})" if len(key) >= 20 else self.key_variable

    @property
    def reports_headroom(self) -> bool:
        return self.provider.reports_headroom

    @property
    def has_admin_key(self) -> bool:
        return self._admin_key is not None

    def offers(self, endpoint: str) -> bool:
        return endpoint in self.provider.paths

    def _call(
        self, method: str, endpoint: str, *, query: str = "", admin: bool = False, json_body: object = None
    ) -> Response:
        # Bedrock model ids hold a colon, which its paths carry percent-encoded (as botocore sends them).
        model = quote(self.model, safe="") if self.provider.auth == "sigv4" else self.model
        path = self.provider.paths[endpoint].replace("{model}", model)
        url = self.base_url + path + (f"?{query}" if query else "")
        key = self._admin_key if admin else self._key
        if self._signer is not None and not self._signer.missing and key is None:
            # What is signed must be sent byte for byte: the body is encoded once, here.
            body = json.dumps(json_body, separators=(",", ":")).encode() if json_body is not None else b""
            headers = self._signer.headers(method, url, body, {"Content-Type": "application/json"})
            self.session.note(f"{method} {url} {body.decode()} (SigV4, region {self._signer.region})")
            return self.session.request(
                method, url, headers=headers, body=body, timeout=REQUEST_TIMEOUT, record=False
            )
        return self.session.request(
            method, url, headers=self._auth(key), json_body=json_body, timeout=REQUEST_TIMEOUT
        )

    def _auth(self, key: str | None) -> dict[str, str]:
        if not key:
            return {}
        if self.provider.auth == "x-api-key":
            return {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION}
        if self.provider.auth == "api-key":
            return {"api-key": key}
        if self.provider.auth == "x-goog-api-key":
            return {"x-goog-api-key": key}  # a header, not ?key=: query strings end up in access logs
        return {"Authorization": f"Bearer {key}"}

    def models(self) -> Response:
        """The model list: free, and some providers send rate-limit headers with it."""
        return self._call("GET", "models")

    def ping(self) -> Response:
        """The cheapest request sure to meet the token limits: one output token."""
        body: dict[str, object]
        if self.provider.request == "gemini":
            body = {
                "contents": [{"role": "user", "parts": [{"text": "ping"}]}],
                "generationConfig": {"maxOutputTokens": 1},
            }
        elif self.provider.request == "converse":
            body = {
                "messages": [{"role": "user", "content": [{"text": "ping"}]}],
                "inferenceConfig": {"maxTokens": 1},
            }
        else:
            body = {
                "model": self.model,
                self.provider.max_tokens_field: 1,
                "messages": [{"role": "user", "content": "ping"}],
            }
        return self._call("POST", "generate", json_body=body)

    def account(self) -> Response:
        """OpenRouter's credit or the LiteLLM key's budget (only where `offers("account")`)."""
        return self._call("GET", "account")

    def usage(self, minutes: int) -> list[Response]:
        """Every page of the admin usage report in one-minute buckets over the last `minutes`."""
        minutes = max(1, min(minutes, MAX_USAGE_MINUTES))
        start = utc_now() - dt.timedelta(minutes=minutes)
        query: dict[str, str | int]
        if self.name == "anthropic":
            starting_at = start.strftime("%Y-%m-%dT%H:%M:00Z")
            query = {
                "starting_at": starting_at,
                "bucket_width": "1m",
                "group_by[]": "model",
                "limit": minutes,
            }
        else:
            query = {
                "start_time": int(start.timestamp()),
                "bucket_width": "1m",
                "group_by": "model",
                "limit": minutes,
            }
        pages: list[Response] = []
        while len(pages) < MAX_USAGE_PAGES:
            page = self._call("GET", "usage", query=urlencode(query), admin=True)
            pages.append(page)
            try:
                data = page.json() if page.status == 200 else None
            except ValueError:
                break
            if not (isinstance(data, dict) and data.get("has_more") and data.get("next_page")):
                break
            query["page"] = str(data["next_page"])
        return pages

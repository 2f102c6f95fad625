"""AWS Bedrock runtime: its refusals, and the SigV4-signed request that reads them live.

Bedrock names its errors in the `x-amzn-ErrorType` header (`ThrottlingException:http://…`)
and puts one `message` in the body. A throttle says which limit in words only: "Too many
tokens", "Too many requests", or "Too many tokens per day" (a daily quota, which waiting
minutes will not clear). `ServiceQuotaExceededException` (HTTP 400) is the account's
quota, raised only through Service Quotas. Bedrock sends no rate-limit headers and no
`Retry-After`; its quotas count per minute, so a per-minute throttle clears within the
minute at the latest.

Live requests are signed with botocore's SigV4 (service `bedrock`), with credentials
from botocore's usual chain; a Bedrock API key (`AWS_BEARER_TOKEN_BEDROCK`) is sent as a
bearer token instead. botocore is optional: `pip install 'incident-lab[bedrock]'`.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from incident_lab.kinds.llm.refusals import Reading, Refusal
from incident_lab.redaction import register_secrets

BEARER_VARIABLE = "AWS_BEARER_TOKEN_BEDROCK"
REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")
SIGNING_NAME = "bedrock"  # not "bedrock-runtime": that is the endpoint prefix
_AUTH_ERRORS = {
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "ExpiredTokenException",
    "IncompleteSignature",
    "MissingAuthenticationTokenException",
    "NotAuthorized",
}
QUOTA_REMEDY = (
    "raise the quota in AWS Service Quotas (Amazon Bedrock), or use a cross-region inference profile"
)


def error_type(headers: Mapping[str, str], data: Any) -> str | None:
    """The exception's name: from `x-amzn-ErrorType` (what botocore reads), else the body's `__type`."""
    named = headers.get("x-amzn-errortype")
    if not named and isinstance(data, dict):
        named = data.get("__type") or data.get("code")
    return str(named).split(":")[0].rpartition("#")[2] or None if named else None


def is_bedrock_error(headers: Mapping[str, str]) -> bool:
    return "x-amzn-errortype" in headers


def read_bedrock(status: int, text: str, headers: Mapping[str, str]) -> Refusal:
    unreadable: list[str] = []
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        data = {}
        unreadable.append(f"body: not JSON ({' '.join(text.split())[:60]!r})")
    if not isinstance(data, dict):
        unreadable.append(f"body: {type(data).__name__}, not an object")
        data = {}
    name = error_type(headers, data) or ""
    message = str(data.get("message") or data.get("Message") or name or f"HTTP {status}")
    lowered = message.lower()
    found = tuple(unreadable)
    if name in _AUTH_ERRORS or status in (401, 403):
        return Refusal("auth_rejected", f"{name}: {message}" if name else message, unreadable=found)
    if name == "ServiceQuotaExceededException":
        reading = Reading("service quota", 0, detail=message)
        return Refusal("hard_quota", message, (reading,), found, QUOTA_REMEDY)
    if name == "ModelNotReadyException":
        return Refusal("model_not_ready", message, unreadable=found)
    if name == "ThrottlingException" or status == 429:
        if "tokens per day" in lowered:
            reading = Reading("tokens per day", 0, detail="AWS gives no reset time for the daily quota")
            return Refusal("daily_quota", message, (reading,), found, QUOTA_REMEDY)
        if "too many tokens" in lowered:
            reading = Reading("tokens per minute", 0, resets_in=60.0, detail="clears within the minute")
            return Refusal("rate_tokens", message, (reading,), found, QUOTA_REMEDY)
        if "too many requests" in lowered:
            reading = Reading("requests per minute", 0, resets_in=60.0, detail="clears within the minute")
            return Refusal("rate_requests", message, (reading,), found, QUOTA_REMEDY)
        return Refusal("rate_limit", message, unreadable=found)
    if name == "ValidationException" and ("too long" in lowered or "exceeds the model limit" in lowered):
        return Refusal("context_overflow", message, unreadable=found)
    return Refusal("server_error" if status >= 500 else "other_error", message, unreadable=found)


def region_of(host: str) -> str | None:
    """`bedrock-runtime.eu-west-1.amazonaws.com` → `eu-west-1`."""
    parts = host.split(".")
    if len(parts) >= 4 and parts[0].startswith("bedrock-runtime") and parts[-2] == "amazonaws":
        return parts[1]
    return None


def configured_region() -> str | None:
    return next((os.environ[v] for v in REGION_VARIABLES if os.environ.get(v)), None)


@dataclass(frozen=True)
class Signer:
    """SigV4 credentials, or what is missing for them; it never shows the secret."""

    credentials: Any  # botocore's frozen credentials, or None
    region: str
    missing: str  # empty when the signer can sign

    def __repr__(self) -> str:
        return f"<Signer {self.region or 'no region'}{': ' + self.missing if self.missing else ''}>"

    def headers(self, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> dict[str, str]:
        """The headers to send: the given ones plus `X-Amz-Date`, `Authorization` and the
        session token. Send exactly the URL and body that were signed."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        SigV4Auth(self.credentials, SIGNING_NAME, self.region).add_auth(request)
        return dict(request.headers.items())


def signer(region: str | None) -> Signer:
    """Credentials from botocore's chain (environment, profile, SSO, container, instance)."""
    if not region:
        return Signer(
            None, "", "no AWS region: set AWS_REGION, or write bedrock@https://bedrock-runtime.REGION…"
        )
    if importlib.util.find_spec("botocore") is None:
        return Signer(
            None, region, "botocore is not installed (pip install 'incident-lab[bedrock]') to sign requests"
        )
    import botocore.session

    found = botocore.session.Session().get_credentials()
    if found is None:
        return Signer(
            None,
            region,
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or "
            f"{BEARER_VARIABLE}",
        )
    frozen = found.get_frozen_credentials()
    register_secrets([frozen.secret_key, frozen.token])
    return Signer(frozen, region, "")

"""What `listen` decides before anything runs: where it binds, and whose signature holds."""

import hashlib
import hmac

import pytest

from incident_lab.exceptions import UsageError
from incident_lab.listen import is_loopback, parse_bind, signature_valid

BODY = b'{"event": {"event_type": "incident.triggered"}}'


def hexdigest(secret: str, body: bytes = BODY) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_pagerduty_signatures_any_of_several_v1_values():
    good = hexdigest("s1")
    assert signature_valid("pagerduty", BODY, f"v1={good}", "s1")
    assert signature_valid("pagerduty", BODY, f"v1={'0' * 64}, v1={good}", "s1")  # a key rotating
    assert not signature_valid("pagerduty", BODY, f"v1={hexdigest('s2')}", "s1")
    assert not signature_valid("pagerduty", BODY, good, "s1")  # no v1= scheme
    assert not signature_valid("pagerduty", BODY + b" ", f"v1={good}", "s1")  # the raw body, byte for byte
    assert not signature_valid("pagerduty", BODY, "", "s1")


def test_grafana_signature_is_the_hex_hmac_of_the_body():
    assert signature_valid("grafana", BODY, hexdigest("g"), "g")
    assert signature_valid("grafana", BODY, hexdigest("g").upper(), "g")
    assert not signature_valid("grafana", BODY, hexdigest("h"), "g")
    assert not signature_valid("grafana", BODY, "", "g")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:9393", ("127.0.0.1", 9393)), (":8080", ("127.0.0.1", 8080)), ("[::1]:0", ("::1", 0))],
)
def test_bind_addresses(text, expected):
    assert parse_bind(text) == expected


@pytest.mark.parametrize("text", ["9393", "host:", "host:port", "127.0.0.1:70000"])
def test_bad_bind_addresses_are_usage_errors(text):
    with pytest.raises(UsageError, match="--bind must look like HOST:PORT"):
        parse_bind(text)


def test_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1") and not is_loopback("example.com")

"""Targets: a name, a kind and a reference; a target's kind brings its default hypotheses."""

import pytest

from incident_lab.exceptions import TargetError, UsageError
from incident_lab.investigation.params import resolve
from incident_lab.kinds import TargetSpec, split_kind, target_spec
from incident_lab.runner import default_registry

KINDS = {"postgres", "http", "llm"}
POSTGRES_DEFAULTS = [default.probe for default in default_registry().kind("postgres").default_hypotheses]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("primary", "postgres:service=shop", TargetSpec("primary", "postgres", "service=shop")),
        ("postgres", "service=shop", TargetSpec("postgres", "postgres", "service=shop")),
        ("db", "postgresql://app@db/shop", TargetSpec("db", "", "postgresql://app@db/shop")),
        ("http", "http://shop/health", TargetSpec("http", "http", "http://shop/health")),
        ("site", "http:https://shop/health", TargetSpec("site", "http", "https://shop/health")),
        ("replica", "postgres:env:REPLICA_DSN", TargetSpec("replica", "postgres", "env:REPLICA_DSN")),
        ("agent", "openai@https://gw/v1", TargetSpec("agent", "", "openai@https://gw/v1")),
    ],
)
def test_a_target_names_its_kind_or_its_name_does(name, value, expected):
    assert target_spec(name, value, KINDS) == expected


def test_the_kind_is_left_out_when_written_only_where_the_name_says_it():
    assert target_spec("postgres", "postgres:service=shop", KINDS).written == "service=shop"
    assert target_spec("primary", "postgres:service=shop", KINDS).written == "postgres:service=shop"
    assert split_kind("kafka:broker1", KINDS) == ("", "kafka:broker1")


def test_an_empty_reference_is_refused():
    with pytest.raises(TargetError, match="empty reference"):
        target_spec("primary", "postgres:", KINDS)


def investigation(targets, hypotheses=()):
    values = {
        "incident": "Checkout failing",
        "severity": "High",
        "targets": targets,
        "hypotheses": list(hypotheses),
    }
    return resolve(values, default_registry())


def test_a_target_named_primary_of_kind_postgres_gets_the_postgresql_default_hypotheses():
    params = investigation({"primary": "postgres:service=shop"})
    assert [(h.probe, h.target) for h in params.hypotheses] == [
        (probe, "primary") for probe in POSTGRES_DEFAULTS
    ]
    assert params.targets == {"primary": "postgres:service=shop"}


def test_defaults_follow_each_targets_kind_not_its_name():
    params = investigation({"shop": "http:https://shop.example.com/health", "agent": "llm:openai"})
    assert [(h.probe, h.target) for h in params.hypotheses] == [
        ("http.error_rate", "shop"),
        ("llm.token_quota", "agent"),
        ("llm.provider_status", "agent"),
    ]


def test_a_target_of_no_stated_kind_takes_the_kind_of_the_probe_aimed_at_it():
    params = investigation({"db": "service=shop"}, [{"probe": "postgres.lock_contention"}])
    assert params.hypotheses[0].target == "db" and params.targets == {"db": "postgres:service=shop"}


def test_a_probe_aimed_at_a_target_of_another_kind_is_refused():
    shop = {"shop": "http:https://shop.example.com"}
    with pytest.raises(TargetError, match="needs a postgres target, but target shop is http"):
        investigation(shop, [{"probe": "postgres.lock_contention", "target": "shop"}])
    with pytest.raises(TargetError, match=r"needs a postgres target: .* \(targets given: shop, http\)"):
        investigation(shop, [{"probe": "postgres.lock_contention"}])


def test_a_hypothesis_that_names_no_target_goes_on_every_target_of_its_kind():
    targets = {"a": "postgres:service=a", "b": "postgres:service=b", "web": "http:https://shop.example.com"}
    fleet = investigation(targets, [{"probe": "postgres.lock_contention"}])
    assert [h.target for h in fleet.hypotheses] == ["a", "b"]
    named = investigation(targets, [{"probe": "postgres.lock_contention", "target": "b"}])
    assert [h.target for h in named.hypotheses] == ["b"]
    listed = investigation(targets, [{"probe": "postgres.lock_contention", "target": ["b", "a"]}])
    assert [h.target for h in listed.hypotheses] == ["b", "a"]


def test_a_target_group_stands_for_its_members_and_its_hypotheses_go_on_each():
    params = investigation(
        {"shards": "postgres:service=shard1,service=shard2,host=db3 dbname=shop"},
        [{"probe": "postgres.lock_contention", "target": "shards"}],
    )
    assert params.targets == {
        "shards/1": "postgres:service=shard1",
        "shards/2": "postgres:service=shard2",
        "shards/3": "postgres:host=db3 dbname=shop",
    }
    assert [h.target for h in params.hypotheses] == ["shards/1", "shards/2", "shards/3"]
    listed = investigation({"pair": ["postgres:service=a", "postgres:postgresql://app@h1,h2/shop"]})
    assert listed.targets["pair/2"] == "postgres:postgresql://app@h1,h2/shop"  # a multi-host URI, whole
    assert len(listed.hypotheses) == 2 * len(POSTGRES_DEFAULTS)


def test_a_comma_inside_one_reference_splits_nothing():
    params = investigation({"web": "http:https://shop.example.com/health?fields=a,b"})
    assert params.targets == {"web": "http:https://shop.example.com/health?fields=a,b"}


def test_concurrency_is_a_bounded_whole_number():
    assert investigation({"postgres": "service=shop"}).concurrency == 16
    with pytest.raises(UsageError, match="concurrency must be a whole number from 1 to 256"):
        resolve({"incident": "x", "severity": "High", "concurrency": 0}, default_registry())


def test_a_malformed_reference_of_a_used_target_is_refused_naming_it():
    with pytest.raises(TargetError, match="http"):
        investigation({"shop": "http:ftp://shop.example.com"})


# Kinds without default hypotheses: a hypothesis aimed at the target, so that it is parsed.
AIMED_AT = {"prometheus": [{"probe": "prometheus.threshold", "target": "broken", "params": {"query": "up"}}]}


@pytest.mark.parametrize(
    ("kind", "reference", "shown", "reason"),
    [
        ("postgres", "postgresql://app@db:abc/shop", "'postgresql://app@db:abc/shop'", "port 'abc'"),
        ("postgres", "host=db port=99999 password=Pw-Unit-77", "password=***", "port '99999' is not a port"),
        ("postgres", "app:Pw-Unit-77@db", "'app:***@db'", "not a PostgreSQL URI, conninfo or service name"),
        ("postgres", "dbname=shop", "'dbname=shop'", "names no server"),
        ("postgres", "env:UNIT_UNSET_DSN", "'env:UNIT_UNSET_DSN'", "UNIT_UNSET_DSN is not set"),
        ("pgbouncer", "host=db dbname=shop password=Pw-Unit-77", "password=***", "admin console"),
        ("http", "http://shop.example.com/a b?token=Pw-Unit-77", "token=***", "whitespace or control"),
        ("http", "ftp://shop.example.com/?sig=Pw-Unit-77", "sig=***", "must start with http://"),
        ("llm", "nosuch", "'nosuch'", "unknown LLM provider"),
        ("llm", "openai@https://gw.example/v1?api_key=Pw-Unit-77", "api_key=***", "no query or fragment"),
        ("prometheus", "https://prom.example token=Pw-Unit-77", "token=***", "from the environment"),
        ("prometheus", "https://prom.example/?x=1", "'https://prom.example/?x=1'", "no query or fragment"),
    ],
)
def test_every_malformed_reference_is_refused_naming_the_target_and_its_redacted_reference(
    kind, reference, shown, reason
):
    for refused in (
        lambda: investigation({"broken": f"{kind}:{reference}"}, AIMED_AT.get(kind, ())),
        lambda: default_registry().kind(kind).target(reference, "broken"),
    ):
        with pytest.raises(TargetError) as error:
            refused()
        said = str(error.value)
        assert said.startswith("target broken ('") and shown in said and reason in said, said
        assert "Pw-Unit-77" not in said and "\n" not in said


def test_a_target_without_a_name_is_named_by_its_redacted_reference():
    with pytest.raises(TargetError, match=r"^target 'http://x/\\r\\nX: 1': .*control characters"):
        default_registry().kind("http").target("http://x/\r\nX: 1")
    with pytest.raises(TargetError, match=r"^target 'postgresql://app:\*\*\*@db:0/shop': .*port '0'"):
        default_registry().kind("postgres").target("postgresql://app:Pw-Unit-77@db:0/shop")


def test_a_long_reference_is_shown_cut():
    with pytest.raises(TargetError) as error:
        default_registry().kind("http").target("ftp://" + "x" * 200, "cdn")
    assert "x" * 53 + "…'" in str(error.value) and "x" * 60 not in str(error.value)


def test_an_unused_target_of_any_kind_is_stored_without_its_secret():
    from incident_lab.archive.execute import prepare

    unused = {
        "prom_token": "prometheus:http://prom.internal:9090 token=Pw-Unit-71",
        "prom_basic": "prometheus:http://prom.internal user=me password=Pw-Unit-72",
        "bouncer": "pgbouncer:app:Pw-Unit-73@db",
        "replica": "postgres:postgresql://app:Pw-Unit-74@replica/shop",
        "agent": "llm:openai@https://gw.example/v1?api_key=Pw-Unit-75",
        "cdn": "http:https://cdn.example.com/a.js?sig=Pw-Unit-76",
    }
    prepared = prepare(
        {
            "incident": "x",
            "severity": "Low",
            "hypotheses": [{"probe": "postgres.lock_contention", "target": "primary"}],
            "targets": {"primary": "postgres:service=shop", **unused},
        }
    )
    assert "Pw-Unit" not in repr(prepared.params) and prepared.secrets == {}
    assert set(prepared.withheld) == set(unused)
    assert prepared.params.targets["prom_token"] == "prometheus:http://prom.internal:9090 token=***"
    assert prepared.params.targets["agent"] == "llm:openai@https://gw.example/v1?api_key=***"
    assert prepared.params.targets["bouncer"] == "pgbouncer:app:***@db"


def test_a_used_prometheus_target_reaches_the_kernel_with_its_variable_names(monkeypatch):
    from incident_lab.archive.execute import prepare

    monkeypatch.setenv("UNIT_PROM_PASSWORD", "Pw-Unit-81")
    basic = "prometheus:https://prom.example user=oncall password=env:UNIT_PROM_PASSWORD"
    hypothesis = {"probe": "prometheus.threshold", "target": "prom", "params": {"query": "up"}}
    values = {"incident": "x", "severity": "Low", "targets": {"prom": basic}, "hypotheses": [hypothesis]}
    prepared = prepare(values)
    assert prepared.params.targets == {"prom": basic} and prepared.secrets == {}

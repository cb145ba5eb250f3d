"""Domain coverage and the registered-domain table (SPEC Concepts → Domain)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ephemail.domain.domains import DomainTable, domain_covers, parent_domains
from ephemail.domain.messages import DomainRecord

LABEL = st.from_regex(r"[a-z0-9]{1,10}", fullmatch=True)
DOMAIN = st.lists(LABEL, min_size=1, max_size=4).map(".".join)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def rec(name: str, active: bool = True, id: int = 1) -> DomainRecord:
    return DomainRecord(
        id=id, name=name, active=active, shared=False, retention_hours=None, created_at=NOW
    )


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("a.b.x.com", ["a.b.x.com", "b.x.com", "x.com", "com"]),
        ("x.com", ["x.com", "com"]),
        ("localhost", ["localhost"]),
        ("[127.0.0.1]", ["[127.0.0.1]"]),
        ("", []),
    ],
)
def test_parent_domains(domain: str, expected: list[str]) -> None:
    assert parent_domains(domain) == expected


@pytest.mark.parametrize(
    ("pattern", "domain", "expected"),
    [
        ("x.com", "x.com", True),
        ("x.com", "a.x.com", True),
        ("x.com", "a.b.x.com", True),
        ("*.x.com", "x.com", True),
        ("*.x.com", "a.x.com", True),
        ("X.COM.", "a.x.com", True),
        ("x.com", "notx.com", False),
        ("*.x.com", "notx.com", False),
        ("x.com", "x.com.evil.org", False),
        ("a.x.com", "x.com", False),
        ("x.com", "com", False),
        ("bücher.example", "mail.xn--bcher-kva.example", True),
        ("[127.0.0.1]", "[127.0.0.1]", True),
        ("[127.0.0.1]", "a.[127.0.0.1]", False),
        ("", "x.com", False),
        ("x.com", "", False),
    ],
)
def test_domain_covers(pattern: str, domain: str, expected: bool) -> None:
    assert domain_covers(pattern, domain) is expected


@given(DOMAIN, DOMAIN)
def test_domain_covers_subdomains(base: str, sub: str) -> None:
    assert domain_covers(base, sub + "." + base)
    assert domain_covers("*." + base, sub + "." + base)
    assert domain_covers(base, base)


@given(DOMAIN, LABEL)
def test_domain_covers_not_prefix_glued(base: str, glue: str) -> None:
    assert not domain_covers(base, glue + base)


@given(st.text(), st.text())
def test_domain_covers_never_raises(pattern: str, domain: str) -> None:
    assert domain_covers(pattern, domain) in (True, False)


TABLE = DomainTable(
    [
        rec("x.com", id=1),
        rec("sub.x.com", id=2),
        rec("off.x.com", active=False, id=3),
        rec("dead.org", active=False, id=4),
        rec("on.dead.org", id=5),
    ]
)


@pytest.mark.parametrize(
    ("domain", "lookup_id", "active_id"),
    [
        ("x.com", 1, 1),
        ("a.x.com", 1, 1),
        ("sub.x.com", 2, 2),
        ("deep.sub.x.com", 2, 2),
        ("off.x.com", 3, None),  # inactive subdomain entry disables its subtree
        ("a.off.x.com", 3, None),
        ("dead.org", 4, None),
        ("on.dead.org", 5, 5),  # active child of an inactive parent
        ("x.on.dead.org", 5, 5),
        ("notx.com", None, None),
        ("com", None, None),
        ("", None, None),
    ],
)
def test_lookup(domain: str, lookup_id: int | None, active_id: int | None) -> None:
    found = TABLE.lookup(domain)
    assert (found.id if found else None) == lookup_id
    active = TABLE.lookup_active(domain)
    assert (active.id if active else None) == active_id


def test_table_basics() -> None:
    assert len(TABLE) == 5
    assert "x.com" in TABLE
    assert "a.x.com" not in TABLE
    assert {r.id for r in TABLE} == {1, 2, 3, 4, 5}
    assert TABLE.has_active
    assert not DomainTable([rec("a.com", active=False)]).has_active
    assert not DomainTable().has_active


def test_table_tolerates_wildcard_name() -> None:
    table = DomainTable([rec("*.Y.com", id=9)])
    found = table.lookup("a.y.com")
    assert found is not None
    assert found.id == 9

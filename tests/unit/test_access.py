"""The one access check, as a table: every principal × mailbox kind × action under each
deployment policy, then global and admin actions, then `Authorizer.check` verifying
presented mailbox passwords and unlock proofs.

Cells read: A = allowed, U = denied with 401 (credentials could help), F = denied with
403. Three letters per cell: read, write, delete.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from _pytest.mark import ParameterSet

from ephemail.domain.accounts import Account, Role, Scope, SubscriptionStatus
from ephemail.domain.messages import Mailbox, MailboxKind
from ephemail.services.access import (
    AccessDenied,
    AccessPolicy,
    Action,
    Authorizer,
    Principal,
    Via,
    authorize,
    authorize_account,
    authorize_admin,
    authorize_global,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ACTIONS = (Action.READ, Action.WRITE, Action.DELETE)


def _account(id: int, email: str, role: Role = Role.USER) -> Account:
    return Account(id, email, role, SubscriptionStatus.ACTIVE, None, None, NOW)


USER = _account(1, "user@example.com")
OTHER = _account(2, "other@example.com")
ADMIN = _account(3, "admin@example.com", Role.ADMIN)

CLAIMED_ADDRESS = "locked@temp.test"

PRINCIPALS: dict[str, Principal] = {
    "anonymous": Principal.anonymous(),
    "operator": Principal.operator(),
    "user_session": Principal(account=USER, via=Via.SESSION),
    "other_user": Principal(account=OTHER, via=Via.SESSION),
    "admin_session": Principal(account=ADMIN, via=Via.SESSION),
    "admin_token": Principal(account=ADMIN, scopes=frozenset({Scope.ADMIN}), via=Via.API_TOKEN),
    "admin_no_admin_scope": Principal(
        account=ADMIN, scopes=frozenset({Scope.READ, Scope.WRITE}), via=Via.API_TOKEN
    ),
    "read_token": Principal(account=USER, scopes=frozenset({Scope.READ}), via=Via.API_TOKEN),
    "write_token": Principal(
        account=USER, scopes=frozenset({Scope.READ, Scope.WRITE}), via=Via.API_TOKEN
    ),
    "imap_token": Principal(account=USER, via=Via.IMAP_TOKEN),
    "password_holder": Principal(unlocked=frozenset({CLAIMED_ADDRESS}), via=Via.MAILBOX_PASSWORD),
    "wrong_unlocked": Principal(
        unlocked=frozenset({"elsewhere@temp.test"}), via=Via.MAILBOX_PASSWORD
    ),
    # A non-admin account holding an admin-scoped token (e.g. demoted since): the scope
    # lets it read and write like a write token, never administer.
    "user_admin_scope": Principal(account=USER, scopes=frozenset({Scope.ADMIN}), via=Via.API_TOKEN),
}


_MAILBOX_IDS = itertools.count(1)


def _mailbox(address: str, kind: MailboxKind, owner: int | None = None) -> Mailbox:
    return Mailbox(
        id=next(_MAILBOX_IDS),
        address=address,
        kind=kind,
        domain=address.partition("@")[2],
        created_at=NOW,
        owner_account_id=owner,
    )


MAILBOXES: dict[str, Mailbox | None] = {
    "none": None,
    "public": _mailbox("open@temp.test", MailboxKind.PUBLIC),
    "claimed": _mailbox(CLAIMED_ADDRESS, MailboxKind.CLAIMED),
    "owned_by_user": _mailbox("mine@user.test", MailboxKind.OWNED, USER.id),
    "owned_by_other": _mailbox("theirs@other.test", MailboxKind.OWNED, OTHER.id),
}

# Public reading on (the default). open_mode changes nothing per mailbox.
MATRIX_PUBLIC_READ = """
principal              none  public claimed owned_by_user owned_by_other
anonymous              AAA   AAA    UUU     UUU           UUU
operator               AAA   AAA    AAA     AAA           AAA
user_session           AAA   AAA    UUU     AAA           FFF
other_user             AAA   AAA    UUU     FFF           AAA
admin_session          AAA   AAA    AAA     AAA           AAA
admin_token            AAA   AAA    AAA     AAA           AAA
admin_no_admin_scope   AAA   AAA    UUU     FFF           FFF
read_token             AFF   AFF    UFF     AFF           FFF
write_token            AAA   AAA    UUU     AAA           FFF
imap_token             AAA   AAA    UUU     AAA           FFF
password_holder        AAA   AAA    AAA     UUU           UUU
wrong_unlocked         AAA   AAA    UUU     UUU           UUU
user_admin_scope       AAA   AAA    UUU     AAA           FFF
"""

# Public reading off: public (and not-yet-existing) mailboxes are for admins only.
MATRIX_NO_PUBLIC_READ = """
principal              none  public claimed owned_by_user owned_by_other
anonymous              UUU   UUU    UUU     UUU           UUU
operator               AAA   AAA    AAA     AAA           AAA
user_session           FFF   FFF    UUU     AAA           FFF
other_user             FFF   FFF    UUU     FFF           AAA
admin_session          AAA   AAA    AAA     AAA           AAA
admin_token            AAA   AAA    AAA     AAA           AAA
admin_no_admin_scope   FFF   FFF    UUU     FFF           FFF
read_token             FFF   FFF    UFF     AFF           FFF
write_token            FFF   FFF    UUU     AAA           FFF
imap_token             FFF   FFF    UUU     AAA           FFF
password_holder        UUU   UUU    AAA     UUU           UUU
wrong_unlocked         UUU   UUU    UUU     UUU           UUU
user_admin_scope       FFF   FFF    UUU     AAA           FFF
"""


def _parse(table: str) -> dict[tuple[str, str], str]:
    lines = [line.split() for line in table.strip().splitlines()]
    header, rows = lines[0][1:], lines[1:]
    cells: dict[tuple[str, str], str] = {}
    for row in rows:
        assert len(row) == len(header) + 1, row
        for column, cell in zip(header, row[1:], strict=True):
            cells[(row[0], column)] = cell
    assert {p for p, _ in cells} == set(PRINCIPALS), "every principal has a row"
    assert set(header) == set(MAILBOXES), "every mailbox kind has a column"
    return cells


def _outcome(run: object) -> str:
    """A, U or F for a call that may raise AccessDenied."""
    assert callable(run)
    try:
        run()
    except AccessDenied as denied:
        return "U" if denied.needs_credentials else "F"
    return "A"


def _matrix_cases() -> list[ParameterSet]:
    cases = []
    for public_read, table in ((True, MATRIX_PUBLIC_READ), (False, MATRIX_NO_PUBLIC_READ)):
        for (principal, mailbox), cell in _parse(table).items():
            for open_mode in (False, True):
                for action, expected in zip(ACTIONS, cell, strict=True):
                    cases.append(
                        pytest.param(
                            AccessPolicy(public_read=public_read, open_mode=open_mode),
                            principal,
                            mailbox,
                            action,
                            expected,
                            id=f"{'public' if public_read else 'private'}-"
                            f"{'open' if open_mode else 'closed'}-{principal}-{mailbox}-"
                            f"{action.value}",
                        )
                    )
    return cases


@pytest.mark.parametrize(("policy", "principal", "mailbox", "action", "expected"), _matrix_cases())
def test_authorize_matrix(
    policy: AccessPolicy, principal: str, mailbox: str, action: Action, expected: str
) -> None:
    who, where = PRINCIPALS[principal], MAILBOXES[mailbox]
    assert _outcome(lambda: authorize(policy, who, action, where)) == expected


# -- actions across every mailbox -------------------------------------------------------
# Columns: open_mode off, open_mode on; three letters per cell (read, write, delete).
GLOBAL_MATRIX = """
principal              closed open
anonymous              UUU    AAA
operator               AAA    AAA
user_session           FFF    AAA
other_user             FFF    AAA
admin_session          AAA    AAA
admin_token            AAA    AAA
admin_no_admin_scope   FFF    AAA
read_token             FFF    AFF
write_token            FFF    AAA
imap_token             FFF    AAA
password_holder        UUU    AAA
wrong_unlocked         UUU    AAA
user_admin_scope       FFF    AAA
"""


def _global_cases() -> list[ParameterSet]:
    lines = [line.split() for line in GLOBAL_MATRIX.strip().splitlines()][1:]
    assert {row[0] for row in lines} == set(PRINCIPALS)
    cases = []
    for name, closed, opened in lines:
        for open_mode, cell in ((False, closed), (True, opened)):
            for public_read in (False, True):  # global access ignores public reading
                for action, expected in zip(ACTIONS, cell, strict=True):
                    cases.append(
                        pytest.param(
                            AccessPolicy(public_read=public_read, open_mode=open_mode),
                            name,
                            action,
                            expected,
                            id=f"{'open' if open_mode else 'closed'}-"
                            f"{'public' if public_read else 'private'}-{name}-{action.value}",
                        )
                    )
    return cases


@pytest.mark.parametrize(("policy", "principal", "action", "expected"), _global_cases())
def test_authorize_global_matrix(
    policy: AccessPolicy, principal: str, action: Action, expected: str
) -> None:
    who = PRINCIPALS[principal]
    assert _outcome(lambda: authorize_global(policy, who, action)) == expected


ADMIN_EXPECTED = {
    "anonymous": "U",
    "operator": "A",
    "user_session": "F",
    "other_user": "F",
    "admin_session": "A",
    "admin_token": "A",
    "admin_no_admin_scope": "F",
    "read_token": "F",
    "write_token": "F",
    "imap_token": "F",
    "password_holder": "U",
    "wrong_unlocked": "U",
    "user_admin_scope": "F",
}


@pytest.mark.parametrize("principal", sorted(PRINCIPALS))
def test_authorize_admin(principal: str) -> None:
    assert set(ADMIN_EXPECTED) == set(PRINCIPALS)
    who = PRINCIPALS[principal]
    assert _outcome(lambda: authorize_admin(who)) == ADMIN_EXPECTED[principal]


@pytest.mark.parametrize("principal", sorted(PRINCIPALS))
def test_authorize_account(principal: str) -> None:
    who = PRINCIPALS[principal]
    if who.account is None:
        with pytest.raises(AccessDenied) as denied:
            authorize_account(who)
        assert denied.value.needs_credentials
    else:
        assert authorize_account(who) is who.account


def test_anonymous_and_operator_flags() -> None:
    assert PRINCIPALS["anonymous"].is_anonymous
    assert not PRINCIPALS["password_holder"].is_anonymous
    assert not PRINCIPALS["operator"].is_anonymous
    assert PRINCIPALS["operator"].is_admin
    assert not PRINCIPALS["admin_no_admin_scope"].is_admin
    assert not PRINCIPALS["user_admin_scope"].is_admin


# -- Authorizer: presented passwords and unlock proofs -------------------------------------
class PasswordBook:
    """A real MailboxUnlocker over a dict: address -> (password, valid proof)."""

    def __init__(self, entries: dict[str, tuple[str, str]]) -> None:
        self.entries = entries
        self.calls: list[str] = []

    async def verify_mailbox_password(self, mailbox: Mailbox, password: str) -> bool:
        self.calls.append(f"password:{mailbox.address}")
        entry = self.entries.get(mailbox.address)
        return entry is not None and entry[0] == password

    async def verify_unlock_proof(self, mailbox: Mailbox, proof: str) -> bool:
        self.calls.append(f"proof:{mailbox.address}")
        entry = self.entries.get(mailbox.address)
        return entry is not None and entry[1] == proof


CLAIMED = MAILBOXES["claimed"]
assert CLAIMED is not None
OTHER_CLAIMED = _mailbox("second@temp.test", MailboxKind.CLAIMED)


@pytest.fixture
def book() -> PasswordBook:
    return PasswordBook(
        {
            CLAIMED_ADDRESS: ("right password", "proof-1"),
            OTHER_CLAIMED.address: ("second password", "proof-2"),
        }
    )


def _policy(public_read: bool = True) -> AccessPolicy:
    return AccessPolicy(public_read=public_read, open_mode=False)


@pytest.mark.parametrize(
    ("principal", "mailbox", "expected"),
    [
        (Principal(mailbox_password="right password"), CLAIMED, "AAA"),
        (Principal(mailbox_password="wrong password"), CLAIMED, "UUU"),
        (Principal(mailbox_password="right password"), OTHER_CLAIMED, "UUU"),
        (Principal(mailbox_password="second password"), OTHER_CLAIMED, "AAA"),
        (Principal(unlock_proofs=frozenset({(CLAIMED_ADDRESS, "proof-1")})), CLAIMED, "AAA"),
        # A proof made for another address does not open this one.
        (Principal(unlock_proofs=frozenset({(CLAIMED_ADDRESS, "proof-2")})), CLAIMED, "UUU"),
        (
            Principal(unlock_proofs=frozenset({(OTHER_CLAIMED.address, "proof-2")})),
            CLAIMED,
            "UUU",
        ),
        (
            Principal(
                unlock_proofs=frozenset(
                    {(OTHER_CLAIMED.address, "proof-2"), (CLAIMED_ADDRESS, "proof-1")}
                )
            ),
            CLAIMED,
            "AAA",
        ),
        # The password opens only claimed mailboxes: owned ones stay closed.
        (Principal(mailbox_password="right password"), MAILBOXES["owned_by_user"], "UUU"),
        # A read-only token with the right password reads, never writes.
        (
            Principal(
                account=USER,
                scopes=frozenset({Scope.READ}),
                via=Via.API_TOKEN,
                mailbox_password="right password",
            ),
            CLAIMED,
            "AFF",
        ),
        # A signed-in user with the password: the password decides, not the account.
        (
            Principal(account=OTHER, via=Via.SESSION, mailbox_password="right password"),
            CLAIMED,
            "AAA",
        ),
    ],
)
async def test_authorizer_check_verifies_what_was_presented(
    book: PasswordBook, principal: Principal, mailbox: Mailbox | None, expected: str
) -> None:
    authorizer = Authorizer(_policy(), book)
    outcomes = ""
    for action in ACTIONS:
        try:
            await authorizer.check(principal, action, mailbox)
            outcomes += "A"
        except AccessDenied as denied:
            outcomes += "U" if denied.needs_credentials else "F"
    assert outcomes == expected


async def test_authorizer_without_unlocker_denies_claimed() -> None:
    authorizer = Authorizer(_policy())
    with pytest.raises(AccessDenied):
        await authorizer.check(Principal(mailbox_password="right password"), Action.READ, CLAIMED)


async def test_authorizer_unlocker_wired_later(book: PasswordBook) -> None:
    authorizer = Authorizer(_policy())
    authorizer.set_unlocker(book)
    await authorizer.check(Principal(mailbox_password="right password"), Action.READ, CLAIMED)


async def test_authorizer_asks_only_when_it_matters(book: PasswordBook) -> None:
    """No verification (no Argon2 cost) for public, owned or missing mailboxes, nor when
    the address is already unlocked."""
    authorizer = Authorizer(_policy(), book)
    presenting = Principal(mailbox_password="right password")
    await authorizer.check(presenting, Action.READ, None)
    await authorizer.check(presenting, Action.READ, MAILBOXES["public"])
    with pytest.raises(AccessDenied):
        await authorizer.check(presenting, Action.READ, MAILBOXES["owned_by_user"])
    await authorizer.check(PRINCIPALS["password_holder"], Action.READ, CLAIMED)
    assert book.calls == []


async def test_authorizer_unlock_returns_unlocked_principal(book: PasswordBook) -> None:
    authorizer = Authorizer(_policy(), book)
    presenting = Principal(mailbox_password="right password")
    unlocked = await authorizer.unlock(presenting, CLAIMED)
    assert CLAIMED_ADDRESS in unlocked.unlocked
    assert presenting.unlocked == frozenset()  # principals are values
    wrong = await authorizer.unlock(Principal(mailbox_password="nope"), CLAIMED)
    assert wrong.unlocked == frozenset()


async def test_authorizer_check_global_follows_open_mode() -> None:
    closed = Authorizer(AccessPolicy(public_read=True, open_mode=False))
    with pytest.raises(AccessDenied):
        closed.check_global(Principal.anonymous(), Action.READ)
    closed.check_global(PRINCIPALS["admin_session"], Action.READ)
    Authorizer(AccessPolicy(open_mode=True)).check_global(Principal.anonymous(), Action.READ)


def test_mailbox_password_is_not_in_repr() -> None:
    principal = Principal(
        mailbox_password="hunter2hunter2",
        unlock_proofs=frozenset({(CLAIMED_ADDRESS, "signed-proof")}),
    )
    assert "hunter2" not in repr(principal)
    assert "signed-proof" not in repr(principal)

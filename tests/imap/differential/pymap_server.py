"""Start pymap (the reference IMAP server) with its in-memory `dict` back-end, for the
differential test. Run as a script: `python pymap_server.py PORT USER [USER...]`.

Two small adjustments to pymap's dict back-end, both about values the RFC leaves to the
server, so that the same command bytes mean the same messages on both servers:

- UIDs start at 1 (pymap's dict back-end starts every mailbox at 101). RFC 3501
  section 2.3.1.1 only requires UIDs to increase strictly; ephemail starts at 1, and
  the scripts send literal UIDs (`UID FETCH 2:4`), which must name the same messages.
- Every user named on the command line may log in with the password `pw`. The dict
  back-end knows only its one demo user; each script gets a fresh user (a fresh INBOX),
  as it gets a fresh mailbox address on ephemail.
- Test-speed settings (see `_test_config`), none of which changes a reply.

pymap is a dev dependency only: nothing under src/ imports it.
"""

from __future__ import annotations

import sys
from typing import Any

PASSWORD = "pw"


def _test_config() -> dict[str, Any]:
    """Config overrides: cheap password checks (pymap hashes with PBKDF2, 0.3 s a login),
    no delay after a failed login, no DNSBL lookups, and no disconnect after five BAD
    replies in a row (the error scripts send more on purpose)."""
    from pysasl.hashing import Cleartext

    return {
        "hash_context": Cleartext(),
        "invalid_user_sleep": 0.0,
        "reject_dnsbl": False,
        "bad_command_limit": None,
    }


def _patch_pymap(users: list[str]) -> None:
    from pymap.backend.dict import DictBackend, Identity, Login
    from pymap.backend.dict import mailbox as dict_mailbox
    from pymap.user import Passwords, UserMetadata

    original_init = dict_mailbox.MailboxData.__init__

    def init_from_uid_one(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._max_uid = 0

    dict_mailbox.MailboxData.__init__ = init_from_uid_one  # type: ignore[method-assign]

    async def add_users(cls: Any, config: Any, login: Login) -> None:
        hashed = await Passwords(config).hash_password(PASSWORD)
        for name in users:
            await Identity(name, login, None, frozenset()).set(
                UserMetadata(config, name, password=hashed)
            )

    DictBackend._add_demo_user = classmethod(add_users)  # type: ignore[assignment,method-assign]

    original_backend_init = DictBackend.init.__func__  # type: ignore[attr-defined]

    async def init_for_tests(cls: Any, /, args: Any, **overrides: Any) -> Any:
        return await original_backend_init(cls, args, **{**overrides, **_TEST_CONFIG})

    DictBackend.init = classmethod(init_for_tests)  # type: ignore[assignment,method-assign]


_TEST_CONFIG: dict[str, Any] = {}


def main(argv: list[str]) -> None:
    port, *users = argv
    _TEST_CONFIG.update(_test_config())
    _patch_pymap(users)
    from pymap import main as pymap_main

    sys.argv = [
        "pymap",
        "--host",
        "127.0.0.1",
        "--port",
        port,
        "--no-tls",
        "--no-service",
        "admin",
        "--no-service",
        "managesieve",
        "--no-service",
        "swim",
        "dict",
    ]
    pymap_main.main()


if __name__ == "__main__":
    main(sys.argv[1:])

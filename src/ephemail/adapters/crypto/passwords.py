"""Argon2id password hashing behind the `PasswordHasher` port (argon2-cffi).

Argon2id is the variant RFC 9106 section 4 recommends; the default parameters are
its second recommended option (`argon2.profiles.RFC_9106_LOW_MEMORY`: 3 passes over
64 MiB, 4 lanes), made for machines that cannot spend 2 GiB per hash. Hashes are
PHC strings (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`) that carry their own
parameters, so changing them later only makes `needs_rehash` true for old hashes.
"""

from __future__ import annotations

from argon2 import PasswordHasher as _Argon2
from argon2 import Type, profiles
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["Argon2PasswordHasher"]


def _password_bytes(password: str) -> bytes:
    # JSON may carry lone surrogates; encode them instead of failing with a 500.
    return password.encode("utf-8", "surrogatepass")


class Argon2PasswordHasher:
    """Argon2id hashing and verification. CPU and memory heavy: callers run it in a
    worker thread (`asyncio.to_thread`) so the event loop keeps serving."""

    def __init__(
        self,
        *,
        time_cost: int = profiles.RFC_9106_LOW_MEMORY.time_cost,
        memory_cost_kib: int = profiles.RFC_9106_LOW_MEMORY.memory_cost,
        parallelism: int = profiles.RFC_9106_LOW_MEMORY.parallelism,
    ) -> None:
        self._hasher = _Argon2(
            time_cost=time_cost,
            memory_cost=memory_cost_kib,
            parallelism=parallelism,
            hash_len=profiles.RFC_9106_LOW_MEMORY.hash_len,
            salt_len=profiles.RFC_9106_LOW_MEMORY.salt_len,
            type=Type.ID,
        )

    @classmethod
    def cheapest(cls) -> Argon2PasswordHasher:
        """Minimal parameters, for tests only: same format, a fraction of the cost."""
        return cls(
            time_cost=profiles.CHEAPEST.time_cost,
            memory_cost_kib=profiles.CHEAPEST.memory_cost,
            parallelism=profiles.CHEAPEST.parallelism,
        )

    def hash(self, password: str) -> str:
        """A PHC string with a fresh random salt."""
        return self._hasher.hash(_password_bytes(password))

    def verify(self, stored_hash: str, password: str) -> bool:
        """True when `password` matches; False for a wrong password and for a stored
        hash that is malformed or not Argon2 (never raises for those)."""
        try:
            return self._hasher.verify(stored_hash, _password_bytes(password))
        except (VerificationError, InvalidHashError, ValueError, TypeError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when the hash was made with other parameters (or cannot be read), so
        the caller stores a fresh one after a good login."""
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except (InvalidHashError, ValueError, TypeError):
            return True

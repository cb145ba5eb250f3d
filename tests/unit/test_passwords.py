"""The Argon2id adapter: production parameters, PHC format, and verify never raising."""

from __future__ import annotations

from ephemail.adapters.crypto.passwords import Argon2PasswordHasher
from ephemail.app import password_hasher
from ephemail.settings import Settings


def test_defaults_are_the_rfc_9106_low_memory_profile() -> None:
    # Settings() here, not the test environment's cheap cost (tests/conftest.py).
    settings = Settings(password_hash_time_cost=3, password_hash_memory_kib=65536)
    assert Settings.model_fields["password_hash_time_cost"].default == 3
    assert Settings.model_fields["password_hash_memory_kib"].default == 64 * 1024
    stored = password_hasher(settings).hash("correct horse battery")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert Argon2PasswordHasher().hash("x" * 8).startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_verify_and_rehash() -> None:
    cheap = Argon2PasswordHasher(time_cost=1, memory_cost_kib=32)
    stored = cheap.hash("correct horse battery")
    assert cheap.verify(stored, "correct horse battery")
    assert not cheap.verify(stored, "correct horse batterY")
    assert not cheap.needs_rehash(stored)
    # Other parameters: still verifies, and asks for a fresh hash.
    stronger = Argon2PasswordHasher(time_cost=2, memory_cost_kib=64)
    assert stronger.verify(stored, "correct horse battery")
    assert stronger.needs_rehash(stored)
    # Two hashes of one password differ (fresh salt).
    assert cheap.hash("same password") != cheap.hash("same password")


def test_malformed_hashes_are_a_no_not_an_error() -> None:
    cheap = Argon2PasswordHasher(time_cost=1, memory_cost_kib=32)
    for stored in ("", "plain", "$argon2id$v=19$m=32,t=1,p=4$bad", "$2b$12$bcrypthashvalue"):
        assert cheap.verify(stored, "anything") is False
        assert cheap.needs_rehash(stored) is True
    # Lone surrogates (possible in JSON) hash instead of failing.
    assert cheap.verify(cheap.hash("pass\udcffword"), "pass\udcffword")

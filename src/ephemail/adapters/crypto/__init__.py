"""Cryptography adapters: password hashing (Argon2id)."""

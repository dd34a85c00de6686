"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from kefu.platform.errors import InvalidInput

MIN_LENGTH = 8
MAX_LENGTH = 256
_COMMON = {
    "password",
    "password1",
    "12345678",
    "123456789",
    "1234567890",
    "qwertyuiop",
    "11111111",
    "88888888",
    "iloveyou",
    "admin123",
    "abc12345",
    "a1234567",
    "qwerty123",
    "00000000",
    "66666666",
    "password123",
    "1qaz2wsx",
    "kefu1234",
    "woaini1314",
    "123123123",
}

# Replaced (with cheaper parameters) only by the test suite; see tests/conftest.py.
hasher = PasswordHasher()
_dummy_hashes: dict[int, str] = {}


def _dummy_hash() -> str:
    """Verified against when the account does not exist, so both paths cost the same.

    Made on first use, with the hasher in use (not at import: it costs ~250 ms and 64 MiB
    in every process, CLI commands included)."""
    key = id(hasher)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = hasher.hash("kefu-timing-equaliser")
    return _dummy_hashes[key]


def check_policy(password: str, *, email: str = "", name: str = "", field: str = "password") -> None:
    if len(password) < MIN_LENGTH:
        raise InvalidInput(
            "The password must be at least %(min)s characters long.",
            field=field,
            params={"min": MIN_LENGTH},
        )
    if len(password) > MAX_LENGTH:
        raise InvalidInput("The password is too long.", field=field)
    lowered = password.lower()
    if lowered in _COMMON or len(set(password)) < 4:
        raise InvalidInput("This password is too easy to guess.", field=field)
    if (email and lowered == email.lower()) or (name and lowered == name.lower()):
        raise InvalidInput("The password must differ from your name and email.", field=field)


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(hasher.hash, password)


async def verify_password(stored: str | None, password: str) -> bool:
    """Constant work whether or not a hash is stored."""

    def verify() -> bool:
        try:
            return hasher.verify(stored or _dummy_hash(), password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


def needs_rehash(stored: str) -> bool:
    try:
        return hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True

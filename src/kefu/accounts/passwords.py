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
# Verified against when the account does not exist, so both paths cost the same.
_DUMMY_HASH = hasher.hash("kefu-timing-equaliser")


def check_policy(password: str, *, email: str = "", name: str = "") -> None:
    if len(password) < MIN_LENGTH:
        raise InvalidInput(
            "The password must be at least %(min)s characters long.",
            field="password",
            params={"min": MIN_LENGTH},
        )
    if len(password) > MAX_LENGTH:
        raise InvalidInput("The password is too long.", field="password")
    lowered = password.lower()
    if lowered in _COMMON or len(set(password)) < 4:
        raise InvalidInput("This password is too easy to guess.", field="password")
    if (email and lowered == email.lower()) or (name and lowered == name.lower()):
        raise InvalidInput("The password must differ from your name and email.", field="password")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(hasher.hash, password)


async def verify_password(stored: str | None, password: str) -> bool:
    """Constant work whether or not a hash is stored."""

    def verify() -> bool:
        try:
            return hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


def needs_rehash(stored: str) -> bool:
    try:
        return hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True

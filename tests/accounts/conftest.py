"""Fixtures of the accounts tests (the shared ones live in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.accounts.support import browser


@pytest.fixture
async def third_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A third browser, with its own cookies."""
    async with browser(app) as client:
        yield client

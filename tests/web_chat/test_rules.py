"""Small rules: site addresses, the pre-chat field lines, the send limiter, user hashes."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from kefu.channels.web_chat import user_hash
from kefu.channels.web_chat.limits import TokenBucket
from kefu.channels.web_chat.pages import format_fields, parse_fields
from kefu.channels.web_chat.service import clean_origin, clean_origins
from kefu.platform.errors import InvalidInput


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("https://Shop.Example.com/", "https://shop.example.com"),
        ("http://localhost:8080", "http://localhost:8080"),
        (" https://例子.cn ", "https://例子.cn"),
    ],
)
def test_site_addresses_are_normalised(raw: str, clean: str) -> None:
    assert clean_origin(raw) == clean


@pytest.mark.parametrize(
    "raw",
    [
        "javascript:alert(1)",
        "https://a.com/path",
        "ftp://a.com",
        "https://",
        "https://a.com?x=1",
        "https://u:p@a.com",
        "https://a.com:99999",
        "https://a b.com",
        "https://a.com; script-src *",
        "*",
    ],
)
def test_bad_site_addresses_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput):
        clean_origin(raw)


def test_site_lists_drop_duplicates_and_blanks() -> None:
    assert clean_origins(["https://a.com", "", "https://A.com/", "https://b.com"]) == [
        "https://a.com",
        "https://b.com",
    ]


def test_field_lines_round_trip() -> None:
    text = "name | 称呼 | text | required\ntopic | 类型 | select | optional | 订单, 售后"
    fields = parse_fields(text + "\n\n")
    assert fields[0] == {"name": "name", "label": "称呼", "type": "text", "required": True, "options": []}
    assert fields[1]["options"] == ["订单", "售后"]
    assert parse_fields("topic | 类型 | select | 必填 | 订单，售后")[0]["options"] == ["订单", "售后"]
    cleaned = [{k: v for k, v in f.items() if v != []} for f in fields]
    assert format_fields(cleaned) == text


def test_the_send_limiter_refills_over_time() -> None:
    now = [100.0]
    bucket = TokenBucket(3, 0.5, clock=lambda: now[0])
    assert [bucket.take(1) for _ in range(3)] == [None, None, None]
    assert bucket.take(1) == 2
    assert bucket.take(2) is None  # another visitor has their own bucket
    now[0] += 2
    assert bucket.take(1) is None
    assert bucket.take(1) is not None


def test_the_user_hash_is_hmac_sha256_hex() -> None:
    expected = hmac.new(b"secret", b"u-1", hashlib.sha256).hexdigest()
    assert user_hash("secret", "u-1") == expected

"""Variables in quick replies: Chinese and English names, unknown text kept, checked on save."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kefu.platform.errors import InvalidInput
from kefu.replies.variables import check_variables, render, unknown_variables, values_for

NOW = datetime(2026, 3, 1, 16, 5, tzinfo=UTC)  # 2026-03-02 00:05 in Shanghai


def values() -> dict[str, str | None]:
    return values_for(
        agent_id=7,
        agent_name="张三",
        now=NOW,
        timezone="Asia/Shanghai",
        customer_name="李女士",
        customer_email="li@example.com",
        conversation_number="KF-10042",
    )


def test_chinese_and_english_names_render_the_same() -> None:
    zh = render(
        "您好{客户姓名}，我是{坐席姓名}（工号{坐席工号}），"
        "会话{会话编号}，邮箱{客户邮箱}，{当前日期} {当前时间}",
        values(),
    )
    en = render(
        "{customer_name}|{agent_name}|{agent_id}|{conversation_number}|{customer_email}|{date}|{time}",
        values(),
    )
    assert zh == "您好李女士，我是张三（工号0007），会话KF-10042，邮箱li@example.com，2026-03-02 00:05"
    assert en == "李女士|张三|0007|KF-10042|li@example.com|2026-03-02|00:05"


def test_unknown_text_in_braces_and_missing_values_stay_as_typed() -> None:
    text = "{订单号} {customer_name} {{agent_name}} { spaced } {}"
    partial = {**values(), "customer_name": None}
    assert render(text, partial) == "{订单号} {customer_name} {张三} { spaced } {}"
    assert unknown_variables("{订单号}{坐席姓名}{订单号}{foo}") == ["订单号", "foo"]


def test_rendering_is_plain_substitution() -> None:
    nasty = {**values(), "customer_name": "{agent_name}<script>{{ 7*7 }}"}
    assert render("Hi {customer_name}", nasty) == "Hi {agent_name}<script>{{ 7*7 }}"


def test_saving_unknown_variables_is_refused_with_their_names() -> None:
    check_variables("您好{客户姓名}", field="body")
    with pytest.raises(InvalidInput) as caught:
        check_variables("您好{客户名字}，{order}", field="body")
    assert caught.value.params["names"] == "{客户名字}, {order}"
    assert caught.value.errors[0]["field"] == "body"

"""API shapes of quick replies and macros."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from kefu.conversations import Priority, Status
from kefu.platform.api import ApiModel, BodyId, SafeStr
from kefu.replies.models import Macro, QuickReply
from kefu.replies.rules import MAX_BODY, MAX_GROUP, MAX_MACRO_NAME, MAX_TITLE, ReplyKind

Shortcut = Annotated[SafeStr, Field(min_length=1, max_length=41, examples=["greet"])]
Title = Annotated[SafeStr, Field(min_length=1, max_length=MAX_TITLE)]
Body = Annotated[
    SafeStr,
    Field(
        min_length=1,
        max_length=MAX_BODY,
        description="Text with variables: {客户姓名}/{customer_name}, {坐席姓名}/{agent_name}, "
        "{坐席工号}/{agent_id}, {会话编号}/{conversation_number}, {客户邮箱}/{customer_email}, "
        "{当前日期}/{date}, {当前时间}/{time}.",
    ),
]
Group = Annotated[SafeStr, Field(max_length=MAX_GROUP)]
MacroText = Annotated[SafeStr, Field(min_length=1, max_length=10_000)]
Tag = Annotated[SafeStr, Field(max_length=40)]


class QuickReplyOut(ApiModel):
    id: int
    shortcut: str
    title: str
    body: str
    group: str
    kind: ReplyKind
    shared: bool
    use_count: int

    @classmethod
    def of(cls, reply: QuickReply) -> QuickReplyOut:
        return cls(
            id=reply.id,
            shortcut=reply.shortcut,
            title=reply.title,
            body=reply.body,
            group=reply.group_name,
            kind=ReplyKind(reply.kind),
            shared=reply.owner_id is None,
            use_count=reply.use_count,
        )


class QuickReplyCreate(ApiModel):
    shortcut: Shortcut
    title: Title
    body: Body
    group: Group = ""
    kind: ReplyKind = ReplyKind.reply
    shared: bool = Field(False, description="Shared with everyone (needs replies.manage_shared).")


class QuickReplyUpdate(ApiModel):
    shortcut: Shortcut | None = None
    title: Title | None = None
    body: Body | None = None
    group: Group | None = None
    kind: ReplyKind | None = None


class SuggestionOut(ApiModel):
    id: int
    shortcut: str
    title: str
    group: str
    kind: ReplyKind
    text: str = Field(description="The body with the variables filled in for the conversation.")


class MacroActions(ApiModel):
    status: Status | None = None
    priority: Priority | None = None
    category_id: BodyId | None = None
    add_tags: Annotated[list[Tag], Field(max_length=20)] | None = None
    remove_tags: Annotated[list[Tag], Field(max_length=20)] | None = None
    reply: MacroText | None = None
    note: MacroText | None = None

    def plain(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class MacroListItem(ApiModel):
    id: int
    name: str
    shared: bool


class MacroOut(ApiModel):
    id: int
    name: str
    shared: bool
    actions: dict[str, Any]
    use_count: int

    @classmethod
    def of(cls, macro: Macro) -> MacroOut:
        return cls(
            id=macro.id,
            name=macro.name,
            shared=macro.owner_id is None,
            actions=dict(macro.actions),
            use_count=macro.use_count,
        )


class MacroCreate(ApiModel):
    name: Annotated[SafeStr, Field(min_length=1, max_length=MAX_MACRO_NAME)]
    actions: MacroActions
    shared: bool = False


class MacroUpdate(ApiModel):
    name: Annotated[SafeStr, Field(min_length=1, max_length=MAX_MACRO_NAME)] | None = None
    actions: MacroActions | None = None


class MacroApply(ApiModel):
    conversation_id: BodyId


class MacroApplied(ApiModel):
    conversation_id: int
    applied: list[str]

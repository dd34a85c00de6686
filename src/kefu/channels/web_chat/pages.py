"""HTML of the web chat channel: the embed script, the chat frame, a demo host page, and admin."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kefu.accounts import Permission, Principal, list_teams, require
from kefu.calendars import list_calendars
from kefu.channels.web_chat import queries, service
from kefu.channels.web_chat.models import Widget
from kefu.channels.web_chat.service import WidgetValues
from kefu.platform import i18n
from kefu.platform.api import MAX_ID
from kefu.platform.errors import Conflict, InvalidInput, NotFound
from kefu.platform.i18n import N_, gettext
from kefu.platform.kernel import Kernel, KernelDep
from kefu.platform.security import CONTENT_SECURITY_POLICY
from kefu.platform.web import Form, field_errors

router = APIRouter(include_in_schema=False)

LOADER = Path(__file__).resolve().parent.parent.parent / "static" / "widget" / "loader.js"
FORM_ERRORS = (InvalidInput, Conflict)
ManageChannels = Annotated[Principal, Depends(require(Permission.channels_manage))]

POSITION_LABELS = {"right": N_("Bottom right"), "left": N_("Bottom left")}
LOCALE_LABELS = {"auto": N_("The visitor's browser language"), "zh_CN": "简体中文", "en": "English"}
REQUIRED_WORDS = {"required", "yes", "true", "1", "*", "必填", "是"}
EMOJI = (
    "😀",
    "😁",
    "😂",
    "🤣",
    "😊",
    "😍",
    "😘",
    "😎",
    "🤔",
    "😅",
    "😭",
    "😢",
    "😡",
    "😱",
    "😴",
    "🙄",
    "😉",
    "🙂",
    "🙃",
    "😇",
    "👍",
    "👎",
    "👌",
    "🙏",
    "👏",
    "💪",
    "🤝",
    "👋",
    "❤️",
    "💔",
    "🎉",
    "🔥",
    "⭐",
    "✅",
    "❌",
    "❓",
    "💯",
    "🌹",
    "☕",
    "🎁",
)


def _id(value: int) -> int:
    if not 1 <= value <= MAX_ID:
        raise NotFound("No such widget.")
    return value


def snippet(public_url: str, key: str) -> str:
    return f'<script src="{public_url}/widget.js" data-kefu-widget="{key}" async></script>'


def frame_policy(widget: Widget) -> str:
    """The default policy, except that the widget's sites (or any site) may frame the chat."""
    ancestors = " ".join(["'self'", *widget.allowed_origins]) if widget.allowed_origins else "*"
    parts = [p for p in CONTENT_SECURITY_POLICY.split("; ") if not p.startswith("frame-ancestors")]
    return "; ".join([*parts, f"frame-ancestors {ancestors}"])


# -- the embed ----------------------------------------------------------------------------------
@router.get("/widget.js")
async def loader_script() -> Response:
    return Response(
        LOADER.read_text(encoding="utf-8"),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300", "Cross-Origin-Resource-Policy": "cross-origin"},
    )


@router.get("/widget/{key}")
async def frame(request: Request, kernel: KernelDep, key: str) -> Response:
    async with kernel.db.reader() as session:
        widget = await queries.get_widget_by_key(session, key)
    if widget.locale != "auto":
        i18n.set_locale(widget.locale)
    config = {
        "key": widget.key,
        "color": widget.color,
        "title": widget.title,
        "position": widget.position,
        "origins": widget.allowed_origins,
    }
    context = {"widget": widget, "config": config, "emoji": EMOJI}
    return await kernel.templates.render(
        request,
        "web_chat/frame.html",
        context,
        headers={"Content-Security-Policy": frame_policy(widget), "Cache-Control": "no-store"},
    )


@router.get("/widget/{key}/demo")
async def demo_page(request: Request, kernel: KernelDep, key: str) -> Response:
    async with kernel.db.reader() as session:
        widget = await queries.get_widget_by_key(session, key)
    return await kernel.templates.render(request, "web_chat/demo.html", {"widget": widget})


# -- admin ----------------------------------------------------------------------------------------
def format_fields(fields: list[dict[str, Any]]) -> str:
    lines = []
    for spec in fields:
        parts = [
            spec["name"],
            spec["label"],
            spec["type"],
            "required" if spec.get("required") else "optional",
        ]
        if spec.get("options"):
            parts.append(", ".join(spec["options"]))
        lines.append(" | ".join(parts))
    return "\n".join(lines)


def parse_fields(text: str) -> list[dict[str, Any]]:
    """One field a line: ``name | label | type | required | option, option``."""
    fields = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        parts += [""] * (5 - len(parts))
        options = [o.strip() for o in parts[4].replace("，", ",").split(",") if o.strip()]
        fields.append(
            {
                "name": parts[0],
                "label": parts[1],
                "type": parts[2] or "text",
                "required": parts[3].lower() in REQUIRED_WORDS,
                "options": options,
            }
        )
    return fields


def _optional_id(form: Form, name: str) -> int | None:
    value = form.integer(name)
    return value if value is not None and 1 <= value <= MAX_ID else None


@dataclass(frozen=True)
class WidgetForm:
    """What the widget form shows: the stored widget, or what was just submitted."""

    values: WidgetValues
    fields_text: str
    origins_text: str
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_widget(cls, widget: Widget) -> WidgetForm:
        values = WidgetValues(
            name=widget.name,
            title=widget.title,
            queue_id=widget.queue_id,
            calendar_id=widget.calendar_id,
            color=widget.color,
            position=widget.position,
            locale=widget.locale,
            welcome_message=widget.welcome_message,
            away_message=widget.away_message,
            offline_message=widget.offline_message,
            prechat_enabled=widget.prechat_enabled,
            prechat_fields=list(widget.prechat_fields or []),
            require_identity=widget.require_identity,
            allowed_origins=list(widget.allowed_origins or []),
            is_active=widget.is_active,
        )
        return cls(values, format_fields(values.prechat_fields), "\n".join(values.allowed_origins))

    @classmethod
    def of(cls, form: Form) -> WidgetForm:
        fields_text = form.text("prechat_fields", max_length=5000)
        origins_text = form.text("allowed_origins", max_length=5000)
        values = WidgetValues(
            name=form.text("name", max_length=200),
            title=form.text("title", max_length=200),
            queue_id=_optional_id(form, "queue_id"),
            calendar_id=_optional_id(form, "calendar_id"),
            color=form.text("color", max_length=20),
            position=form.text("position", max_length=10),
            locale=form.text("locale", max_length=10),
            welcome_message=form.text("welcome_message", max_length=2000),
            away_message=form.text("away_message", max_length=2000),
            offline_message=form.text("offline_message", max_length=2000),
            prechat_enabled=form.flag("prechat_enabled"),
            prechat_fields=parse_fields(fields_text),
            require_identity=form.flag("require_identity"),
            allowed_origins=origins_text.split(),
            is_active=form.flag("is_active"),
        )
        return cls(values, fields_text, origins_text)


async def _choices(kernel: Kernel) -> dict[str, Any]:
    async with kernel.db.reader() as session:
        teams = await list_teams(session)
        calendars = await list_calendars(session)
    return {
        "queue_options": [("", gettext("No team (any agent)"))] + [(str(t.id), t.name) for t in teams],
        "calendar_options": [("", gettext("The workspace's default business hours"))]
        + [(str(c.id), c.name) for c in calendars],
        "position_options": [(k, gettext(v)) for k, v in POSITION_LABELS.items()],
        "locale_options": [(k, gettext(v) if k == "auto" else v) for k, v in LOCALE_LABELS.items()],
    }


async def _list_page(
    request: Request,
    kernel: Kernel,
    *,
    errors: dict[str, str] | None = None,
    name: str = "",
    status: int = 200,
) -> Response:
    async with kernel.db.reader() as session:
        widgets = await queries.list_widgets(session)
    context = {"widgets": widgets, "errors": errors or {}, "new_name": name, **await _choices(kernel)}
    return await kernel.templates.render(request, "web_chat/widgets.html", context, status_code=status)


async def _edit_page(
    request: Request, kernel: Kernel, widget: Widget, form: WidgetForm, *, status: int = 200
) -> Response:
    public_url = kernel.settings.public_url
    context = {
        "widget": widget,
        "form": form,
        "values": form.values,
        "errors": form.errors,
        "snippet": snippet(public_url, widget.key),
        "public_url": public_url,
        **await _choices(kernel),
    }
    return await kernel.templates.render(request, "web_chat/widget.html", context, status_code=status)


@router.get("/admin/web-chat")
async def widgets_page(request: Request, kernel: KernelDep, principal: ManageChannels) -> Response:
    return await _list_page(request, kernel)


@router.post("/admin/web-chat")
async def widget_create(request: Request, kernel: KernelDep, principal: ManageChannels) -> Response:
    form = await Form.read(request)
    name = form.text("name", max_length=200)
    values = WidgetValues(
        name=name,
        title=form.text("title", max_length=200) or name,
        queue_id=_optional_id(form, "queue_id"),
        prechat_fields=[{**f, "label": gettext(f["label"])} for f in service.DEFAULT_FIELDS],
    )
    try:
        async with kernel.db.transaction() as session:
            widget = await service.create_widget(session, principal.actor, values)
    except FORM_ERRORS as exc:
        return await _list_page(request, kernel, errors=field_errors(exc), name=name, status=422)
    return kernel.templates.redirect(
        f"/admin/web-chat/{widget.id}", message="The chat widget %(name)s was created.", name=widget.name
    )


@router.get("/admin/web-chat/{widget_id}")
async def widget_page(
    request: Request, kernel: KernelDep, principal: ManageChannels, widget_id: int
) -> Response:
    async with kernel.db.reader() as session:
        widget = await queries.get_widget(session, _id(widget_id))
    return await _edit_page(request, kernel, widget, WidgetForm.of_widget(widget))


@router.post("/admin/web-chat/{widget_id}")
async def widget_update(
    request: Request, kernel: KernelDep, principal: ManageChannels, widget_id: int
) -> Response:
    widget_id = _id(widget_id)
    form = WidgetForm.of(await Form.read(request))
    try:
        async with kernel.db.transaction() as session:
            await service.update_widget(session, principal.actor, widget_id, form.values)
    except FORM_ERRORS as exc:
        async with kernel.db.reader() as session:
            widget = await queries.get_widget(session, widget_id)
        failed = WidgetForm(form.values, form.fields_text, form.origins_text, field_errors(exc))
        return await _edit_page(request, kernel, widget, failed, status=422)
    return kernel.templates.redirect(f"/admin/web-chat/{widget_id}", message="Saved.")


@router.post("/admin/web-chat/{widget_id}/rotate-secret")
async def widget_rotate(
    request: Request, kernel: KernelDep, principal: ManageChannels, widget_id: int
) -> Response:
    async with kernel.db.transaction() as session:
        await service.rotate_identity_secret(session, principal.actor, _id(widget_id))
    return kernel.templates.redirect(
        f"/admin/web-chat/{widget_id}",
        message="A new identity secret was made. Update it on your site's server: "
        "the old one no longer works.",
    )

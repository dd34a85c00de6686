"""Quick replies (快捷回复) and macros (SPEC C3): personal and shared, with variables."""

from kefu.replies.models import Macro, QuickReply
from kefu.replies.queries import list_macros, list_quick_replies, suggest
from kefu.replies.rules import KIND_LABELS, ReplyKind
from kefu.replies.service import apply_macro, record_use, rendering_values
from kefu.replies.variables import VARIABLES, render

__all__ = [
    "KIND_LABELS",
    "VARIABLES",
    "Macro",
    "QuickReply",
    "ReplyKind",
    "apply_macro",
    "list_macros",
    "list_quick_replies",
    "record_use",
    "render",
    "rendering_values",
    "suggest",
]

"""The web chat channel (SPEC A1): the embeddable widget, visitor identity, the visitor API.

For other features: the widget table, the visitor principal on widget sockets, and the
helpers the agents' attachment route shares (:func:`attachment_path`, :func:`sniff`).
"""

from kefu.channels.web_chat.models import Widget
from kefu.channels.web_chat.queries import get_widget, get_widget_by_key, list_widgets
from kefu.channels.web_chat.visitors import VisitorPrincipal, user_hash
from kefu.conversations import attachment_path, sniff

__all__ = [
    "VisitorPrincipal",
    "Widget",
    "attachment_path",
    "get_widget",
    "get_widget_by_key",
    "list_widgets",
    "sniff",
    "user_hash",
]

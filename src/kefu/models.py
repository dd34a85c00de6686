"""Every table of every feature, imported so that ``Base.metadata`` is complete (migrations, tests)."""

from kefu.accounts import models as accounts_models
from kefu.admin import models as admin_models
from kefu.calendars import models as calendars_models
from kefu.channels.web_chat import models as web_chat_models
from kefu.conversations import models as conversations_models
from kefu.platform import audit, jobs
from kefu.platform.db import Base
from kefu.replies import models as replies_models
from kefu.routing import models as routing_models

metadata = Base.metadata

__all__ = [
    "accounts_models",
    "admin_models",
    "audit",
    "calendars_models",
    "conversations_models",
    "jobs",
    "metadata",
    "replies_models",
    "routing_models",
    "web_chat_models",
]

"""Every table of every feature, imported so that ``Base.metadata`` is complete (migrations, tests)."""

from kefu.accounts import models as accounts_models
from kefu.admin import models as admin_models
from kefu.calendars import models as calendars_models
from kefu.platform import audit, jobs
from kefu.platform.db import Base

metadata = Base.metadata

__all__ = ["accounts_models", "admin_models", "audit", "calendars_models", "jobs", "metadata"]

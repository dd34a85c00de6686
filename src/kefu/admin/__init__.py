"""Administration (SPEC J2, J3): workspace settings, the audit log and background jobs pages.

Public API for other features: the workspace settings read below.
"""

from kefu.admin.events import WorkspaceSettingsChanged
from kefu.admin.queries import WorkspaceView, get_workspace_settings

__all__ = ["WorkspaceSettingsChanged", "WorkspaceView", "get_workspace_settings"]

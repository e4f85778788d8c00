"""The base of every back-office page of records: read-only unless the model's own permission says otherwise."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records nobody edits in the admin. Where a page adds one all the same (an upload, a run) or an
    action changes state (activate, cancel), the user needs the model's own add or change permission,
    as Django's admin would ask; staff status alone lets a user look, not act."""

    def has_model_permission(self, request: HttpRequest, action: str) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.{get_permission_codename(action, self.opts)}")

    def has_manage_permission(self, request: HttpRequest) -> bool:
        """For actions that change state (``allowed_permissions = ("manage",)``): the change permission."""
        return self.has_model_permission(request, "change")

    def add_view_checked(self, request: HttpRequest) -> None:
        """An add page of its own must still refuse a user without the add permission."""
        if not self.has_add_permission(request):
            raise PermissionDenied

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = _("Members and cards")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from .roles import roles_sync

        # After every app's migrations (each creates its permissions): the last call
        # sees them all.
        post_migrate.connect(roles_sync, dispatch_uid="members.roles_sync")

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest


def signed_in_user(request: HttpRequest) -> User:
    """The signed-in user of a view behind a login (admin, cabinet); anyone else is refused."""
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user

"""The admin's sign-in: the same limits and second factor as every other door
(members.signin), for staff only."""

from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm

from members.signin import SignInForm


class StaffAuthenticationForm(SignInForm, AdminAuthenticationForm):
    pass


def admin_login_secure(site: AdminSite) -> None:
    site.login_form = StaffAuthenticationForm
    site.login_template = "admin/staff_login.html"

from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path("", views.till_page, name="till"),
    path("login/", views.TillLoginView.as_view(), name="till-login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="till-login"), name="till-logout"),
    path("find/", views.till_find_view, name="till-find"),
    path("issue/", views.till_issue_view, name="till-issue"),
    path("issue/confirm/", views.till_issue_confirm_view, name="till-issue-confirm"),
    path("purchase/", views.till_purchase_view, name="till-purchase"),
    path("refund/", views.till_refund_view, name="till-refund"),
    path("voucher/", views.till_voucher_view, name="till-voucher"),
]

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views.defaults import page_not_found
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config import health as config_health
from config.admin_login import admin_login_secure
from loyalty import api as loyalty_api
from loyalty.journeys import views as journey_views
from members import api as members_api
from members.cabinet import api as me_api
from partners import api as partners_api
from rewards import api as rewards_api


def health(request: HttpRequest) -> JsonResponse:
    """Liveness and database reachability, for load balancers."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # any database failure means "not ready"
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok"})


def api_aware_404(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Unknown API paths answer in the API's JSON error shape, not an HTML page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "not_found", "detail": "Not found."}, status=404)
    return page_not_found(request, exception)


handler404 = api_aware_404

admin_login_secure(admin.site)

api_v1 = [
    path("cards/issue/", members_api.CardIssueApi.as_view(), name="cards-issue"),
    path("cards/<str:number>/balance/", loyalty_api.CardBalanceApi.as_view(), name="cards-balance"),
    path("cards/<str:number>/replace/", members_api.CardReplaceApi.as_view(), name="cards-replace"),
    path("cards/<str:number>/confirm/", members_api.CardConfirmApi.as_view(), name="cards-confirm"),
    path("members/lookup/", members_api.MemberLookupApi.as_view(), name="members-lookup"),
    path("events/", loyalty_api.EventCreateApi.as_view(), name="events"),
    path("club/plans/", loyalty_api.ClubPlanListApi.as_view(), name="club-plans"),
    path(
        "club/memberships/",
        loyalty_api.ClubMembershipCreateApi.as_view(),
        name="club-memberships",
    ),
    path("purchases/", loyalty_api.PurchaseCreateApi.as_view(), name="purchases"),
    path("non-member-sales/", loyalty_api.NonMemberSalesApi.as_view(), name="nonmember-sales"),
    path(
        "purchases/<int:purchase_id>/",
        loyalty_api.PurchaseDetailApi.as_view(),
        name="purchases-detail",
    ),
    path(
        "purchases/<int:purchase_id>/refunds/",
        loyalty_api.RefundCreateApi.as_view(),
        name="purchases-refunds",
    ),
    path("holds/", loyalty_api.HoldCreateApi.as_view(), name="holds"),
    path(
        "holds/<int:hold_id>/capture/", loyalty_api.HoldCaptureApi.as_view(), name="holds-capture"
    ),
    path("holds/<int:hold_id>/void/", loyalty_api.HoldVoidApi.as_view(), name="holds-void"),
    path("settlements/", partners_api.SettlementListApi.as_view(), name="settlements"),
    path(
        "settlements/<int:statement_id>/",
        partners_api.SettlementDetailApi.as_view(),
        name="settlements-detail",
    ),
    path(
        "settlements/<int:statement_id>/csv/",
        partners_api.SettlementCsvApi.as_view(),
        name="settlements-csv",
    ),
    path(
        "settlements/<int:statement_id>/pdf/",
        partners_api.SettlementPdfApi.as_view(),
        name="settlements-pdf",
    ),
    path("me/", me_api.MeApi.as_view(), name="me"),
    path("me/token/", me_api.TokenObtainApi.as_view(), name="me-token"),
    path("me/history/", me_api.MeHistoryApi.as_view(), name="me-history"),
    path("me/rewards/", me_api.MeRewardsApi.as_view(), name="me-rewards"),
    path(
        "me/rewards/<int:reward_id>/redeem/",
        me_api.MeRewardRedeemApi.as_view(),
        name="me-rewards-redeem",
    ),
    path("me/vouchers/", me_api.MeVouchersApi.as_view(), name="me-vouchers"),
    path("vouchers/<str:code>/", rewards_api.VoucherDetailApi.as_view(), name="vouchers-detail"),
    path(
        "vouchers/<str:code>/redeem/", rewards_api.VoucherUseApi.as_view(), name="vouchers-redeem"
    ),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),  # the admin's language switcher
    path("health/", health, name="health"),
    path("health/live/", config_health.live, name="health-live"),
    path("health/ready/", config_health.ready, name="health-ready"),
    path(
        "api/schema/",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]),
        name="api-schema",
    ),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(
            url_name="api-schema", authentication_classes=[], permission_classes=[]
        ),
        name="api-docs",
    ),
    path("api/v1/", include(api_v1)),
    path("j/<str:token>/", journey_views.click, name="journey-click"),
    path("j/<str:token>/open.gif", journey_views.open_pixel, name="journey-open"),
    path("unsubscribe/<str:token>/", journey_views.unsubscribe, name="journey-unsubscribe"),
    path("till/", include("members.urls")),
    path("accounts/", include("allauth.urls")),
    path("", include("members.cabinet.urls")),
]
# Reward images in development (DEBUG); in production the web server serves them.
urlpatterns += static(settings.PUBLIC_MEDIA_URL, document_root=settings.PUBLIC_MEDIA_ROOT)

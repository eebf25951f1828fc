from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="cabinet-home"),
    path("start/", views.start, name="cabinet-start"),
    path("card/virtual/", views.virtual_card, name="cabinet-virtual-card"),
    path("card/link/", views.link_card, name="cabinet-link-card"),
    path("card/link/<int:link_id>/", views.link_card_confirm, name="cabinet-link-confirm"),
    path("history/", views.history, name="cabinet-history"),
    path("rewards/", views.rewards, name="cabinet-rewards"),
    path("rewards/<int:reward_id>/", views.reward_detail, name="cabinet-reward"),
    path("vouchers/", views.vouchers, name="cabinet-vouchers"),
    path("roadmap/", views.roadmap, name="cabinet-roadmap"),
    path("badges/", views.badges, name="cabinet-badges"),
    path("leaderboard/", views.leaderboard, name="cabinet-leaderboard"),
    path("profile/", views.profile, name="cabinet-profile"),
    path("profile/export/", views.data_export, name="cabinet-export"),
    path("profile/delete/", views.account_delete, name="cabinet-delete"),
    path("join/<str:code>/", views.join, name="cabinet-join"),
]

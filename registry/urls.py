from django.urls import path

from registry import views

urlpatterns = [
    path("images/", views.image_list, name="image-page-list"),
    path("images/<int:image_id>/", views.image_detail, name="image-page"),
    path("promotions/", views.promotion_board, name="promotion-board"),
    path("environments/<slug:slug>/images/", views.deployed_fragment, name="env-deployed-fragment"),
]

"""Pages of the pipelines app."""

from django.urls import path

from pipelines import views

urlpatterns = [
    path("pipelines/", views.pipeline_list, name="pipeline-page-list"),
    path("pipelines/<int:pk>/", views.pipeline_detail, name="pipeline-page"),
    path("pipeline-runs/<int:pk>/", views.run_detail, name="pipeline-run-page"),
    path("pipeline-runs/<int:pk>/graph/", views.run_graph_fragment, name="pipeline-run-graph"),
]

from django.urls import path

from simulations import apis

urlpatterns = [
    path("simulations/", apis.SimulationRunListCreateApi.as_view(), name="simulations"),
    path("simulations/<str:run_id>/", apis.SimulationRunDetailApi.as_view(), name="simulation-detail"),
    path("simulations/<str:run_id>/decisions/", apis.SimulationDecisionsApi.as_view(), name="simulation-decisions"),
]

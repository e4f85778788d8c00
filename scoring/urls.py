from django.urls import path

from scoring import apis

urlpatterns = [
    path("score-requests/", apis.ScoreRequestListCreateApi.as_view(), name="score-requests"),
    path("score-requests/<str:request_id>/", apis.ScoreRequestDetailApi.as_view(), name="score-request-detail"),
    path("score-requests/<str:request_id>/replay/", apis.ScoreRequestReplayApi.as_view(), name="score-request-replay"),
    path("models/", apis.ModelVersionListApi.as_view(), name="model-versions"),
]

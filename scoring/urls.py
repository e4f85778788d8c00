from django.urls import path

from scoring import apis, batch_apis

urlpatterns = [
    path("score-requests/", apis.ScoreRequestListCreateApi.as_view(), name="score-requests"),
    path("score-requests/<str:request_id>/", apis.ScoreRequestDetailApi.as_view(), name="score-request-detail"),
    path("score-requests/<str:request_id>/replay/", apis.ScoreRequestReplayApi.as_view(), name="score-request-replay"),
    path("models/", apis.ModelVersionListApi.as_view(), name="model-versions"),
    path("batches/", batch_apis.BatchJobListCreateApi.as_view(), name="batches"),
    path("batches/<str:job_id>/", batch_apis.BatchJobDetailApi.as_view(), name="batch-detail"),
    path("batches/<str:job_id>/cancel/", batch_apis.BatchJobCancelApi.as_view(), name="batch-cancel"),
    path("batches/<str:job_id>/results/", batch_apis.BatchJobResultsApi.as_view(), name="batch-results"),
    path("batches/<str:job_id>/errors/", batch_apis.BatchJobErrorsApi.as_view(), name="batch-errors"),
]

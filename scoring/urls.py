from django.urls import path

from scoring import apis, batch_apis, challenger_apis, outcome_apis

urlpatterns = [
    path("score-requests/", apis.ScoreRequestListCreateApi.as_view(), name="score-requests"),
    path("score-requests/<str:request_id>/", apis.ScoreRequestDetailApi.as_view(), name="score-request-detail"),
    path("score-requests/<str:request_id>/replay/", apis.ScoreRequestReplayApi.as_view(), name="score-request-replay"),
    path("models/", apis.ModelVersionListApi.as_view(), name="model-versions"),
    path(
        "models/<str:version>/performance/",
        outcome_apis.ModelVersionPerformanceApi.as_view(),
        name="model-version-performance",
    ),
    path("batches/", batch_apis.BatchJobListCreateApi.as_view(), name="batches"),
    path("batches/<str:job_id>/", batch_apis.BatchJobDetailApi.as_view(), name="batch-detail"),
    path("batches/<str:job_id>/cancel/", batch_apis.BatchJobCancelApi.as_view(), name="batch-cancel"),
    path("batches/<str:job_id>/results/", batch_apis.BatchJobResultsApi.as_view(), name="batch-results"),
    path("batches/<str:job_id>/errors/", batch_apis.BatchJobErrorsApi.as_view(), name="batch-errors"),
    path("outcomes/", outcome_apis.OutcomeUploadListCreateApi.as_view(), name="outcomes"),
    path("outcomes/<str:upload_id>/", outcome_apis.OutcomeUploadDetailApi.as_view(), name="outcome-detail"),
    path("outcomes/<str:upload_id>/listed/", outcome_apis.OutcomeUploadListedApi.as_view(), name="outcome-listed"),
    path("shadow-scores/", challenger_apis.ShadowScoreListApi.as_view(), name="shadow-scores"),
    path("challenger/comparison/", challenger_apis.ChallengerComparisonApi.as_view(), name="challenger-comparison"),
]

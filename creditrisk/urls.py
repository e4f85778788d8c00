from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from scoring.demo import demo_batch_detail, demo_batch_list, demo_batch_upload, demo_page
from scoring.metrics import metrics_view
from scoring.views import LoginView, healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("scoring.urls")),
    path("api/v1/", include("simulations.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
    path("", demo_page, name="demo"),
    path("batches/", demo_batch_list, name="demo-batches"),
    path("batches/upload/", demo_batch_upload, name="demo-batch-upload"),
    path("batches/<uuid:job_id>/", demo_batch_detail, name="demo-batch"),
]

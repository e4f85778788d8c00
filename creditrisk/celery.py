"""The Celery app beside the settings; workers run ``celery -A creditrisk worker``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditrisk.settings.local")

app = Celery("creditrisk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Task counters and each worker's metrics port (signal receivers, connected on import).
import creditrisk.metrics  # noqa: E402,F401

"""The Celery app beside the settings; workers run ``celery -A creditrisk worker``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditrisk.settings.local")

app = Celery("creditrisk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

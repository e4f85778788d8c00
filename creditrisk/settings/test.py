"""The test suite: PostgreSQL and Redis on 127.0.0.1 unless the environment says otherwise."""

import os

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
os.environ.setdefault("CREDITRISK_AUDIT_KEY", "test-only-audit-key-0123456789abcdef")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/creditrisk")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("CACHE_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("CREDITRISK_TRAINING_JOBS", "1")  # tests share the machine: no training processes
# The tests share one broker whose single-score queue can hold messages no worker of the test takes: bulk
# work would give way to them. The tests of giving way turn it on (scoring/tests/test_services_batches.py).
os.environ.setdefault("CREDITRISK_BATCH_GIVE_WAY_SECONDS", "0")
os.environ.setdefault("CREDITRISK_BATCH_SHARE", "1")  # and would pace itself beside the tests' single scores

from creditrisk.settings.base import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast user creation
# No collectstatic before tests: plain storage, no manifest.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405

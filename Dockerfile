# syntax=docker/dockerfile:1
# One image for every role: web (gunicorn), worker and beat (celery), and one-off management commands
# (migrate, train). docker-compose.yml picks the role with `command:`.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=creditrisk.settings.production \
    CREDITRISK_VAR_DIR=/app/var CREDITRISK_MODEL_DIR=/models STATIC_ROOT=/app/staticfiles
WORKDIR /app
RUN useradd --create-home --uid 1000 app

# LightGBM's library needs the GNU OpenMP runtime, which the slim image leaves out.
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 && rm -rf /var/lib/apt/lists/*
# Dependencies first, so a code change does not reinstall them; every version is pinned there. The
# runtime set only: the test, benchmark and notebook tools (requirements-dev.txt) stay out of the image.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Static files are collected (and compressed for WhiteNoise) once, at build time. The keys only
# satisfy the settings module: nothing is signed during collectstatic.
RUN SECRET_KEY=collectstatic-only CREDITRISK_AUDIT_KEY=collectstatic-only-never-signs-anything \
    python manage.py collectstatic --noinput \
    && mkdir -p /app/var /models /batches /audit-checkpoints /tmp/metrics \
    && chown -R app:app /app/var /models /batches /audit-checkpoints /tmp/metrics
USER app

EXPOSE 8000 9808
# /healthz: database, broker, a live worker, an active model (creditrisk/healthcheck.py).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["python", "-m", "creditrisk.healthcheck"]
CMD ["gunicorn", "--config", "python:creditrisk.gunicorn", "creditrisk.wsgi:application"]

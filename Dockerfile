# One image for every role: web (gunicorn), worker (celery) and one-off management commands.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=creditrisk.settings.production \
    CREDITRISK_VAR_DIR=/app/var CREDITRISK_MODEL_DIR=/models STATIC_ROOT=/app/staticfiles
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
RUN SECRET_KEY=collectstatic-only STATIC_ROOT=/app/staticfiles python manage.py collectstatic --noinput
RUN useradd --create-home --uid 1000 app && mkdir -p /app/var /models && chown -R app /app/var /models
USER app
EXPOSE 8000
CMD ["gunicorn", "creditrisk.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2"]

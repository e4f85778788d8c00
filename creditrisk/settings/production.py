"""Production: DEBUG off, SECRET_KEY required, hosts from ALLOWED_HOSTS."""

from creditrisk.settings.base import *  # noqa: F403

# Every value below can be relaxed from the environment; the defaults are the safe ones, and they
# keep `python manage.py check --deploy` clean (tests/test_deployment.py).
CSRF_TRUSTED_ORIGINS = env.string_list("CSRF_TRUSTED_ORIGINS", [])  # e.g. https://credit.example.com

# TLS ends at a proxy in front (load balancer, nginx, Traefik) that sets X-Forwarded-Proto. Only trust
# the header when that proxy overwrites it: https://docs.djangoproject.com/en/5.2/ref/settings/#secure-proxy-ssl-header
if env.boolean("TRUST_X_FORWARDED_PROTO", True):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.boolean("SECURE_SSL_REDIRECT", True)
# Container healthchecks and the metrics scraper speak plain HTTP inside the private network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SESSION_COOKIE_SECURE = env.boolean("SESSION_COOKIE_SECURE", True)
CSRF_COOKIE_SECURE = env.boolean("CSRF_COOKIE_SECURE", True)
# Browsers remember HSTS for this long; start lower (e.g. 3600) on a first roll-out, then raise it.
SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS", 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.boolean("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env.boolean("SECURE_HSTS_PRELOAD", True)

# Pool processes of each Celery worker (`--concurrency` is left to this setting).
CELERY_WORKER_CONCURRENCY = env.integer("WORKER_CONCURRENCY", 2)

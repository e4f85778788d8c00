"""Settings shared by every environment; each value can come from the environment.

``local`` (``make run``), ``test`` and ``production`` build on this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django_guid.integrations import CeleryIntegration

from creditrisk import env
from ml.schema import BRAZILIAN_STATES, YES_NO

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env.string("CREDITRISK_VAR_DIR", BASE_DIR / "var"))

DEBUG = env.boolean("DEBUG", False)
# Required whenever DEBUG is off: there is no default production secret.
SECRET_KEY = env.string("SECRET_KEY") if not DEBUG else env.string("SECRET_KEY", "insecure-development-key")
ALLOWED_HOSTS = env.string_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
    "scoring",
    "simulations",
    "django_guid",
]

MIDDLEWARE = [
    # First, so every later middleware's log lines carry the request id, and every answer is counted.
    "django_guid.middleware.guid_middleware",
    "creditrisk.metrics.request_metrics_middleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "creditrisk.urls"
LOGIN_URL = "login"
WSGI_APPLICATION = "creditrisk.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# A bare machine works with a SQLite file under var/; PostgreSQL in CI and production.
DATABASES = {
    "default": dj_database_url.parse(
        env.string("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env.integer("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.string("STATIC_ROOT", VAR_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Throttle counters must be shared by every web process: Redis in production, memory on a laptop.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env.string("CACHE_URL"),
        # A Redis that is down or paused fails a request within seconds (503, scoring/exceptions.py).
        "OPTIONS": {
            "socket_timeout": env.decimal("CELERY_BROKER_SOCKET_TIMEOUT", 2.0),
            "socket_connect_timeout": env.decimal("CELERY_BROKER_SOCKET_TIMEOUT", 2.0),
        },
    }
    if env.string("CACHE_URL", "")
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's parsers, with JSON nested too deeply for Python, or holding a lone surrogate, answered 400 rather than
    # 500; DRF's JSON renderer, with text UTF-8 cannot carry escaped rather than a 500 (api/renderers.py).
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env.string("API_THROTTLE_USER", "12000/minute")},
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "api.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "EXCEPTION_HANDLER": "scoring.exceptions.api_exception_handler",  # Redis down: 503, not 500
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Credit-risk scoring API",
    "DESCRIPTION": "Probability of default, credit points, decision and reasons for credit card applicants.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",  # served from this app: the docs work without internet access
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "scoring.openapi.close_applicant_input",
        "api.openapi.any_of_where_alternatives_overlap",
    ],
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    # One OpenAPI enum per shared choice set (drf-spectacular otherwise warns in `check --deploy`).
    "ENUM_NAME_OVERRIDES": {
        "YesNoEnum": list(YES_NO),
        "BrazilianStateEnum": [*BRAZILIAN_STATES, "XX"],
        "WorkStatusEnum": "scoring.models.ScoreRequest.Status",  # score requests and simulation runs
        "BatchStatusEnum": "scoring.models.BatchJob.Status",
        "ChannelEnum": "scoring.models.ScoreRequest.Channel",
        "OutcomeChannelEnum": "scoring.models.OutcomeUpload.Channel",
        "KindEnum": ["single", "bulk"],  # a shadow score's decision
        "OutcomeRowKindEnum": "ml.outcomes.KINDS",  # why a row of an outcome file was listed
    },
}

# -- Celery ------------------------------------------------------------------------------------
# Default: kombu's filesystem transport, so a bare machine needs no broker server; the worker is
# still a separate process. Production and CI set CELERY_BROKER_URL=redis://...
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.string("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _sub in ("queue", "processed", "control"):
        (BROKER_DIR / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {  # values of several types, by transport
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),  # exchange bindings; default is ./control
        "store_processed": False,
        "polling_interval": 0.05,  # the transport polls the folder; the default 1 s would slow every answer
    }
else:
    # Redis re-delivers an unacknowledged task after this many seconds; longer than any task.
    # https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/redis.html#visibility-timeout
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.integer("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True  # results live in PostgreSQL rows, not in a result backend
# Celery's Django fix-up closes every database connection before and after each task, so each task
# paid for a new PostgreSQL session, unless this is set: then it closes them once every this many
# tasks. (It no longer follows CONN_MAX_AGE: https://github.com/celery/celery/pull/9824.) A task that
# fails, or retries after a database error, still drops its connection (creditrisk/celery.py), so a
# session killed under one task never reaches the next. 0: a new connection for every task.
CELERY_DB_REUSE_MAX = env.integer("CELERY_DB_REUSE_MAX", 1000)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env.integer("CELERY_WORKER_PREFETCH_MULTIPLIER", 1)
# The queues, and every task's queue: scoring/queues.py sends work through this table alone. Single
# scores go to the default queue, where a lender waits for each one; bulk work and simulation runs
# to their own (with each other by default), so a big file never delays a lender waiting on one score.
CELERY_TASK_DEFAULT_QUEUE = "scoring"
CREDITRISK_BATCH_QUEUE = env.string("CREDITRISK_BATCH_QUEUE", "batch")
CREDITRISK_SIMULATION_QUEUE = env.string("CREDITRISK_SIMULATION_QUEUE", "batch")
CELERY_TASK_ROUTES = {
    "scoring.tasks.score_request_process_task": {"queue": CELERY_TASK_DEFAULT_QUEUE},
    "scoring.tasks.batch_job_index_task": {"queue": CREDITRISK_BATCH_QUEUE},
    "scoring.tasks.batch_chunk_process_task": {"queue": CREDITRISK_BATCH_QUEUE},
    "scoring.tasks.sweep_task": {"queue": CELERY_TASK_DEFAULT_QUEUE},
    "scoring.tasks.audit_checkpoint_task": {"queue": CELERY_TASK_DEFAULT_QUEUE},
    "scoring.tasks.drift_report_task": {"queue": CREDITRISK_BATCH_QUEUE},  # a week of decisions: never before a lender
    "scoring.tasks.batch_files_purge_task": {"queue": CREDITRISK_BATCH_QUEUE},
    "simulations.tasks.simulation_run_task": {"queue": CREDITRISK_SIMULATION_QUEUE},  # thousands of rows a run
}
CELERY_TASK_TIME_LIMIT = env.integer("CELERY_TASK_TIME_LIMIT", 1800)
CELERY_TASK_SOFT_TIME_LIMIT = env.integer("CELERY_TASK_SOFT_TIME_LIMIT", 1740)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Broker faults (docs/reliability.md, "Faults"). Requests publish inside their transaction, so a
# broker that is down or paused must fail the publish within seconds (the API answers 503) rather
# than hang: a short connect timeout and a bounded publish retry. The same socket options stop a
# worker waiting for ever on a half-open connection; kombu reads them from the transport options
# https://docs.celeryq.dev/projects/kombu/en/stable/reference/kombu.transport.redis.html
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # kombu's Redis transport, with an acknowledgement that times out no longer stalling the worker.
    CELERY_BROKER_TRANSPORT = "creditrisk.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,
        "socket_timeout": env.decimal("CELERY_BROKER_SOCKET_TIMEOUT", 2.0),
        "socket_connect_timeout": env.decimal("CELERY_BROKER_SOCKET_TIMEOUT", 2.0),
        "socket_keepalive": True,
        "health_check_interval": env.integer("CELERY_BROKER_HEALTH_CHECK_SECONDS", 10),
    }
    # Redis re-delivers a task that is not acknowledged within the visibility timeout, even while it
    # still runs: it must exceed the hard time limit of the longest task, or that task runs twice.
    if CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] <= CELERY_TASK_TIME_LIMIT:
        raise ImproperlyConfigured("CELERY_VISIBILITY_TIMEOUT must be longer than CELERY_TASK_TIME_LIMIT")
CELERY_BROKER_CONNECTION_TIMEOUT = env.decimal("CELERY_BROKER_CONNECTION_TIMEOUT", 2.0)
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": env.integer("CELERY_PUBLISH_MAX_RETRIES", 2),
    "interval_start": 0,
    "interval_step": 0.25,
    "interval_max": 0.5,
}

# -- The product -------------------------------------------------------------------------------
# Where the PAKDD files are: a local folder or s3://bucket/prefix (credentials from AWS_* variables).
CREDITRISK_DATA_URI = env.string(
    "CREDITRISK_DATA_URI", env.string("CREDITRISK_DATA_DIR", BASE_DIR.parent / "shared" / "data" / "pakdd2010")
)
CREDITRISK_TRAINING_FILE = env.string("CREDITRISK_TRAINING_FILE", "PAKDD2010_Modeling_Data.txt")
CREDITRISK_MODEL_DIR = Path(env.string("CREDITRISK_MODEL_DIR", VAR_DIR / "models"))
# Attributes a lender may not decide on; the model never sees them.
CREDITRISK_EXCLUDED_FEATURES = env.string_list("CREDITRISK_EXCLUDED_FEATURES", ["SEX", "MARITAL_STATUS"])
# Share of the labelled rows held out at training time for the lending simulation.
CREDITRISK_HOLDOUT_FRACTION = env.decimal("CREDITRISK_HOLDOUT_FRACTION", 0.2)
CREDITRISK_RANDOM_STATE = env.integer("CREDITRISK_RANDOM_STATE", 42)
# Cross-validation folds fitted at once when training, each in a process of its own; -1: one per core
# (joblib's count, which heeds a container's CPU limit). The fits are seeded: the model is the same.
CREDITRISK_TRAINING_JOBS = env.integer("CREDITRISK_TRAINING_JOBS", -1)
# Credit points: 600 at 50:1 good:bad odds, 20 points to double the odds, clipped to 300-850.
CREDITRISK_SCORE_BASE_POINTS = env.decimal("CREDITRISK_SCORE_BASE_POINTS", 600)
CREDITRISK_SCORE_BASE_ODDS = env.decimal("CREDITRISK_SCORE_BASE_ODDS", 50)
CREDITRISK_SCORE_PDO = env.decimal("CREDITRISK_SCORE_PDO", 20)
CREDITRISK_SCORE_MIN = env.decimal("CREDITRISK_SCORE_MIN", 300)
CREDITRISK_SCORE_MAX = env.decimal("CREDITRISK_SCORE_MAX", 850)
# Decline when the probability of default reaches this. 0.25 is the break-even of the default
# economics (25% margin on a good client, 75% loss on a bad one); the fallback for a model that kept
# no validation predictions to choose its profit-maximising cut-off on (train chooses one).
CREDITRISK_DEFAULT_THRESHOLD = env.decimal("CREDITRISK_DEFAULT_THRESHOLD", 0.25)
# Lending simulations: uploaded test files are kept here for audit; larger uploads are refused (413).
CREDITRISK_SIMULATION_DIR = Path(env.string("CREDITRISK_SIMULATION_DIR", VAR_DIR / "simulations"))
CREDITRISK_SIMULATION_MAX_UPLOAD_BYTES = env.integer("CREDITRISK_SIMULATION_MAX_UPLOAD_BYTES", 200 * 1024 * 1024)

# How long POST /api/v1/score-requests/ waits for the worker before answering 202 with the id.
CREDITRISK_SCORE_WAIT_SECONDS = env.decimal("CREDITRISK_SCORE_WAIT_SECONDS", 5.0)
# On PostgreSQL the waiting request is woken by the worker's NOTIFY (scoring/services/waiting.py). Off:
# it polls instead, as on SQLite; needed behind a PgBouncer in transaction mode, which loses LISTEN.
CREDITRISK_SCORE_LISTEN = env.boolean("CREDITRISK_SCORE_LISTEN", True)
# A signal that never comes (lost on the way) costs at most this: the waiting request reads the row
# anyway after each such slice without one.
CREDITRISK_SCORE_FALLBACK_SECONDS = env.decimal("CREDITRISK_SCORE_FALLBACK_SECONDS", 1.0)
# Every worker writes a heartbeat this often; one silent for CREDITRISK_WORKER_LOST_SECONDS is dead,
# and the requests and chunks it held are dispatched again at once (docs/reliability.md).
CREDITRISK_HEARTBEAT_SECONDS = env.integer("CREDITRISK_HEARTBEAT_SECONDS", 5)
CREDITRISK_WORKER_LOST_SECONDS = env.integer("CREDITRISK_WORKER_LOST_SECONDS", 3 * CREDITRISK_HEARTBEAT_SECONDS)

# Bulk jobs: uploaded files live here, on storage every web and worker process shares.
CREDITRISK_BATCH_DIR = Path(env.string("CREDITRISK_BATCH_DIR", VAR_DIR / "batches"))
# A file is cut into chunks of at most CREDITRISK_BATCH_CHUNK_ROWS lines (a chunk's memory and transaction),
# and at least CREDITRISK_BATCH_MIN_CHUNK_ROWS, with CREDITRISK_BATCH_CHUNKS_PER_WORKER chunks for each of
# the CREDITRISK_BATCH_WORKERS processes that score bulk work, so they finish together and progress moves.
CREDITRISK_BATCH_CHUNK_ROWS = env.integer("CREDITRISK_BATCH_CHUNK_ROWS", 20000)
CREDITRISK_BATCH_MIN_CHUNK_ROWS = env.integer("CREDITRISK_BATCH_MIN_CHUNK_ROWS", 100)
CREDITRISK_BATCH_CHUNKS_PER_WORKER = env.integer("CREDITRISK_BATCH_CHUNKS_PER_WORKER", 4)
CREDITRISK_BATCH_WORKERS = env.integer("CREDITRISK_BATCH_WORKERS", env.integer("WORKER_CONCURRENCY", 2))
# A chunk is scored in slices of this many rows, each followed by one UPDATE of the chunk's progress
# (rows_scored), so a job's progress moves within a chunk too: a few thousand keep the cost negligible.
CREDITRISK_BATCH_PROGRESS_ROWS = env.integer("CREDITRISK_BATCH_PROGRESS_ROWS", 2000)
# Bulk work gives way to single scores: between slices and before storing a chunk, while messages wait in the
# single-score queue, a bulk worker sleeps (polling every CREDITRISK_BATCH_GIVE_WAY_POLL_SECONDS), at most
# CREDITRISK_BATCH_GIVE_WAY_SECONDS at a time, so a job still moves under a flood of single scores (0: never).
CREDITRISK_BATCH_GIVE_WAY_SECONDS = env.decimal("CREDITRISK_BATCH_GIVE_WAY_SECONDS", 5)
CREDITRISK_BATCH_GIVE_WAY_POLL_SECONDS = env.decimal("CREDITRISK_BATCH_GIVE_WAY_POLL_SECONDS", 0.05)
# While single scores are being requested (one in the last CREDITRISK_BATCH_SHARE_WINDOW_SECONDS), a bulk
# worker works at most CREDITRISK_BATCH_SHARE of the time: after each slice and each chunk stored, it pauses
# for as long again as (1 / share - 1) times the work (at most CREDITRISK_BATCH_GIVE_WAY_SECONDS). Its
# database work runs at PostgreSQL's normal priority whatever the worker's `nice`: this bounds it. 1: never.
CREDITRISK_BATCH_SHARE = env.decimal("CREDITRISK_BATCH_SHARE", 0.5)
CREDITRISK_BATCH_SHARE_WINDOW_SECONDS = env.decimal("CREDITRISK_BATCH_SHARE_WINDOW_SECONDS", 2)
if not 0 < CREDITRISK_BATCH_SHARE <= 1:
    raise ImproperlyConfigured(f"CREDITRISK_BATCH_SHARE must be above 0 and at most 1, not {CREDITRISK_BATCH_SHARE}")
# Each candidate reason costs one more prediction of the row: in bulk, only the inputs the model
# relies on most are candidates (0: every input, as for a single score). Reasons stay exact.
CREDITRISK_BATCH_REASON_INPUTS = env.integer("CREDITRISK_BATCH_REASON_INPUTS", 12)
# "declined": reasons for the declined rows only (what an adverse-action notice needs), a fraction
# of the cost; "all": every row, as for one applicant.
CREDITRISK_BATCH_REASONS = env.choice("CREDITRISK_BATCH_REASONS", ["declined", "all"], "declined")
CREDITRISK_MAX_UPLOAD_BYTES = env.integer("CREDITRISK_MAX_UPLOAD_BYTES", 1024**3)
# Bounds of one job, checked as its file is indexed (the job fails with the reason on the first byte or row
# over): the text once gzip is undone (a small gzip can hold gigabytes of blank lines), and its applications.
CREDITRISK_MAX_DECOMPRESSED_BYTES = env.integer("CREDITRISK_MAX_DECOMPRESSED_BYTES", 4 * 1024**3)
CREDITRISK_MAX_JOB_ROWS = env.integer("CREDITRISK_MAX_JOB_ROWS", 10_000_000)
# A job's files are removed this long after it ended (done, failed or cancelled; its results stay in the
# database); its decompressed copy goes as soon as it ends. The purge runs every CREDITRISK_BATCH_PURGE_SECONDS.
CREDITRISK_BATCH_FILE_RETENTION_HOURS = env.decimal("CREDITRISK_BATCH_FILE_RETENTION_HOURS", 168)
CREDITRISK_BATCH_PURGE_SECONDS = env.integer("CREDITRISK_BATCH_PURGE_SECONDS", 3600)
# The sweep (scoring/services/sweep.py) runs in every worker's heartbeat thread every
# CREDITRISK_SWEEP_SECONDS, one worker at a time. Work queued for longer than CREDITRISK_STALE_SECONDS
# whose message Redis neither queues nor hands to a worker (lost with a Redis restart) is dispatched
# again; work held by a dead worker at once. At most CREDITRISK_SWEEP_MAX_DISPATCH pieces a run;
# CREDITRISK_SWEEP_SECONDS=0 turns a worker's sweep off (another worker must then sweep).
CREDITRISK_STALE_SECONDS = env.integer("CREDITRISK_STALE_SECONDS", 60)
CREDITRISK_SWEEP_SECONDS = env.integer("CREDITRISK_SWEEP_SECONDS", 5)
CREDITRISK_SWEEP_MAX_DISPATCH = env.integer("CREDITRISK_SWEEP_MAX_DISPATCH", 200)
CREDITRISK_MAX_ATTEMPTS = env.integer("CREDITRISK_MAX_ATTEMPTS", 5)
# Outcome files (docs/monitoring.md, "Observed outcomes") are read and matched within the request that
# uploads them, under the upload limits of bulk files; a file with more outcome rows than this is refused.
CREDITRISK_OUTCOMES_MAX_ROWS = env.integer("CREDITRISK_OUTCOMES_MAX_ROWS", 100_000)
# Outcome files are recorded one at a time; one that waits longer than this for another is refused (503, send again).
CREDITRISK_OUTCOMES_LOCK_SECONDS = env.decimal("CREDITRISK_OUTCOMES_LOCK_SECONDS", 30)
# The population stability report of the last 7 days' decisions (docs/monitoring.md): once a day by default.
CREDITRISK_DRIFT_REPORT_SECONDS = env.integer("CREDITRISK_DRIFT_REPORT_SECONDS", 24 * 3600)
# Beat runs no sweep (every worker does, one at a time); it sends the periodic tasks that need one sender.

# -- The audit trail (README "Audit", docs/reliability.md "The audit trail") ------------------------
# Every link of the audit chain is an HMAC-SHA256 under this key, which is never stored in the database.
# Required whenever DEBUG is off, like SECRET_KEY; CREDITRISK_AUDIT_KEY_FILE names a file that holds it.
CREDITRISK_AUDIT_KEY = (
    env.string("CREDITRISK_AUDIT_KEY")
    if not DEBUG
    else env.string("CREDITRISK_AUDIT_KEY", "insecure-development-audit-key")
)
if not DEBUG and len(CREDITRISK_AUDIT_KEY) < 32:
    raise ImproperlyConfigured("CREDITRISK_AUDIT_KEY must be at least 32 characters (e.g. `openssl rand -hex 32`)")
# Keys retired by a rotation, kept so that the links they signed still verify (comma or line separated).
CREDITRISK_AUDIT_OLD_KEYS = env.string_list("CREDITRISK_AUDIT_OLD_KEYS", [])
# Signed checkpoints of the chain's head, written outside the database every so many seconds: to this
# folder, and to CREDITRISK_AUDIT_CHECKPOINT_URI (s3://bucket/prefix, credentials from AWS_*) when set.
CREDITRISK_AUDIT_CHECKPOINT_DIR = Path(env.string("CREDITRISK_AUDIT_CHECKPOINT_DIR", VAR_DIR / "audit-checkpoints"))
CREDITRISK_AUDIT_CHECKPOINT_URI = env.string("CREDITRISK_AUDIT_CHECKPOINT_URI", "")
CREDITRISK_AUDIT_CHECKPOINT_SECONDS = env.integer("CREDITRISK_AUDIT_CHECKPOINT_SECONDS", 60)
# verify_audit checks the chain against this many of the latest checkpoints of each location.
CREDITRISK_AUDIT_CHECKPOINTS_CHECKED = env.integer("CREDITRISK_AUDIT_CHECKPOINTS_CHECKED", 20)
# What beat sends: the daily stability report, the purge of old bulk files, the audit checkpoints.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {  # Celery reads task, schedule, args, options
    "drift-report": {"task": "scoring.tasks.drift_report_task", "schedule": float(CREDITRISK_DRIFT_REPORT_SECONDS)},
    "purge-batch-files": {
        "task": "scoring.tasks.batch_files_purge_task",
        "schedule": float(CREDITRISK_BATCH_PURGE_SECONDS),
    },
    "audit-checkpoint": {
        "task": "scoring.tasks.audit_checkpoint_task",
        "schedule": float(CREDITRISK_AUDIT_CHECKPOINT_SECONDS),
    },
}

# -- Request ids in every log line, metrics (deployment) ---------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "django_guid.log_filters.CorrelationId"},
        "task": {"()": "creditrisk.logs.TaskContext"},
    },
    "formatters": {
        "line": {
            "()": "creditrisk.logs.OneLineFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s request_id=%(correlation_id)s task_id=%(task_id)s %(message)s",
        }
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": "line",
            "stream": "ext://sys.stdout",
            "filters": ["request_id", "task"],
        }
    },
    "root": {"handlers": ["stdout"], "level": env.string("LOG_LEVEL", "INFO")},
    "loggers": {"django_guid": {"level": "WARNING"}},  # it logs every generated id at INFO
}
# X-Request-ID is accepted from the caller (a proxy's id, if it is a UUID) or generated, echoed in the
# response, and handed to the Celery tasks the request enqueues. https://django-guid.readthedocs.io/
DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "VALIDATE_GUID": True,
    "INTEGRATIONS": [CeleryIntegration(use_django_logging=True)],
}

# /metrics answers only "Authorization: Bearer <METRICS_TOKEN>" when set (see scoring/metrics.py).
METRICS_TOKEN = env.string("METRICS_TOKEN", "")
# Each Celery worker serves its task counters on this port (0: not served).
CREDITRISK_WORKER_METRICS_PORT = env.integer("CREDITRISK_WORKER_METRICS_PORT", 0)
CREDITRISK_WORKER_METRICS_ADDR = env.string("CREDITRISK_WORKER_METRICS_ADDR", "0.0.0.0")
# Beat keeps its last-run times here: writable by the image's non-root user.
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

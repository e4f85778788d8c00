from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ml import schema
from ml.schema import Column, Kind


class ModelVersion(models.Model):
    """A trained, registered model: what it is, how well it did, and the checksum of its artifact."""

    version = models.CharField(max_length=40, unique=True)
    algorithm = models.CharField(max_length=60)
    hyperparameters = models.JSONField(default=dict)
    features = models.JSONField(default=list, help_text="Input columns the model uses")
    excluded_features = models.JSONField(default=list, help_text="Attributes kept out of the model")
    cv_metrics = models.JSONField(default=dict, help_text="Cross-validated metrics of the chosen candidate")
    comparison = models.JSONField(default=list, help_text="Every candidate's cross-validated metrics")
    holdout_metrics = models.JSONField(default=dict)
    holdout_ids = models.JSONField(default=list, help_text="ID_CLIENT of the rows held out at training time")
    feature_importance = models.JSONField(default=dict)
    reference_applicant = models.JSONField(default=dict, help_text="Typical applicant that reasons compare against")
    rows = models.JSONField(default=dict)
    random_state = models.IntegerField()
    data_source = models.CharField(max_length=500)
    data_sha256 = models.CharField(max_length=64)
    artifact_path = models.CharField(max_length=500, help_text="Relative to CREDITRISK_MODEL_DIR")
    artifact_sha256 = models.CharField(max_length=64)
    library_versions = models.JSONField(default=dict)
    model_card = models.TextField(blank=True)
    threshold = models.FloatField(help_text="Decline when the probability of default reaches this")
    threshold_choice = models.JSONField(default=dict, blank=True,
                                        help_text="How the threshold was chosen (on validation predictions)")
    validation_path = models.CharField(max_length=500, blank=True,
                                       help_text="Out-of-fold predictions of the development rows, relative to "
                                                 "CREDITRISK_MODEL_DIR")
    validation_sha256 = models.CharField(max_length=64, blank=True)
    training_seconds = models.FloatField(default=0)
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="one_active_model"),
        ]

    def __str__(self) -> str:
        return f"{self.version} ({self.algorithm}{', active' if self.is_active else ''})"

    @property
    def roc_auc(self) -> float | None:
        return self.cv_metrics.get("roc_auc")


def _applicant_field(column: Column) -> models.Field:
    """A typed model field for one input column of the schema."""
    options = {"null": True, "blank": True, "help_text": column.description, "db_column": column.name.lower()}
    if column.kind is Kind.DECIMAL:
        return models.FloatField(**options)
    if column.kind is Kind.INTEGER:
        return models.IntegerField(**options)
    return models.CharField(max_length=120, **options)


class Applicant(models.Model):
    """One applicant's submitted fields, typed as in the schema, with the caller's external id."""

    external_id = models.BigIntegerField(null=True, blank=True, db_index=True, help_text="ID_CLIENT as sent")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"applicant {self.external_id or self.pk}"

    def as_inputs(self) -> dict[str, object]:
        """The schema's input values, keyed by the data's column names."""
        return {name: getattr(self, name.lower()) for name in schema.FEATURE_NAMES}


for _column in schema.INPUT_COLUMNS[1:]:  # ID_CLIENT is external_id
    Applicant.add_to_class(_column.name.lower(), _applicant_field(_column))


class ScoreRequest(models.Model):
    """A request to score one applicant; once final (done or failed) it is the audit record.

    Final rows are never updated or deleted: the service layer never does, and on PostgreSQL a
    trigger refuses it. Each final row stores the sha256 of its content chained to the previous
    final row's, in ``sequence`` order, so ``manage.py verify_audit`` finds any edit, deletion or
    reordering.
    """

    class Channel(models.TextChoices):
        API = "api"
        UI = "ui"
        BATCH = "batch"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    FINAL_STATUSES = (Status.DONE, Status.FAILED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    applicant = models.ForeignKey(Applicant, on_delete=models.PROTECT, related_name="score_requests")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="score_requests")  # fmt: skip
    channel = models.CharField(max_length=8, choices=Channel.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED, db_index=True)
    probability_bad = models.FloatField(null=True, blank=True)
    score = models.IntegerField(null=True, blank=True)
    decision = models.CharField(max_length=8, blank=True, db_index=True)
    reasons = models.JSONField(default=list, blank=True)
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="score_requests")  # fmt: skip
    threshold = models.FloatField(null=True, blank=True)
    input_snapshot = models.JSONField(help_text="The validated inputs exactly as scored")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    scoring_ms = models.FloatField(null=True, blank=True, help_text="Model time in the worker")
    attempts = models.PositiveSmallIntegerField(default=0)
    dispatched_at = models.DateTimeField(default=timezone.now, help_text="Last time its task was queued")
    sequence = models.BigIntegerField(null=True, blank=True, unique=True, help_text="Position in the audit chain")
    previous_hash = models.CharField(max_length=64, blank=True)
    record_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["requested_by", "-created_at"]), models.Index(fields=["status", "dispatched_at"])]

    def __str__(self) -> str:
        return f"score request {self.id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES


class AuditChainHead(models.Model):
    """The last link of the audit chain: one row, locked while a record is appended."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    sequence = models.BigIntegerField(default=0)
    record_hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"audit chain at {self.sequence}"


class WorkerHeartbeat(models.Model):
    """Written by every Celery worker every few seconds; the health check looks for a recent one."""

    hostname = models.CharField(max_length=200, primary_key=True)
    queues = models.CharField(max_length=200, blank=True)
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.hostname} at {self.last_seen:%Y-%m-%d %H:%M:%S}"


class BatchJob(models.Model):
    """A whole file of applications scored in chunks by the workers of the ``batch`` queue.

    Completion is tracked here, in PostgreSQL (``chunks_done`` of ``chunks_total``), never in the
    broker: a chunk's results, its errors, its place in the audit chain and these counters are
    committed in one transaction, so a chunk is counted exactly when its rows are stored.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"  # stored, waiting for a worker to index it
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Channel(models.TextChoices):
        API = "api"
        UI = "ui"
        ADMIN = "admin"
        COMMAND = "command"

    FINAL_STATUSES = (Status.DONE, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="batch_jobs")  # fmt: skip
    channel = models.CharField(max_length=8, choices=Channel.choices)
    original_name = models.CharField(max_length=255)
    stored_path = models.CharField(max_length=500, help_text="Under CREDITRISK_BATCH_DIR")
    size_bytes = models.BigIntegerField(default=0)
    file_sha256 = models.CharField(max_length=64, blank=True)
    layout = models.JSONField(default=dict, help_text="Format, separator and columns found in the file's head")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    rows_total = models.IntegerField(null=True, blank=True)
    rows_done = models.IntegerField(default=0)
    rows_failed = models.IntegerField(default=0)
    chunk_rows = models.IntegerField()
    chunks_total = models.IntegerField(null=True, blank=True)
    chunks_done = models.IntegerField(default=0)
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="batch_jobs")  # fmt: skip
    threshold = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Why the job failed")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True, help_text="Last time its indexing was queued")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["uploaded_by", "-created_at"])]

    def __str__(self) -> str:
        return f"batch {self.original_name} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES


class BatchChunk(models.Model):
    """Consecutive lines of a batch file; once done, a link of the audit chain covering its results."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        DONE = "done"
        CANCELLED = "cancelled"

    job = models.ForeignKey(BatchJob, on_delete=models.PROTECT, related_name="chunks")
    index = models.IntegerField()
    first_line = models.IntegerField(help_text="File line number of its first line (1-based, header counted)")
    line_count = models.IntegerField()
    byte_start = models.BigIntegerField()
    byte_end = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_done = models.IntegerField(default=0)
    rows_failed = models.IntegerField(default=0)
    scoring_ms = models.FloatField(null=True, blank=True)
    results_sha256 = models.CharField(max_length=64, blank=True, help_text="Digest of its results, in line order")
    errors_sha256 = models.CharField(max_length=64, blank=True, help_text="Digest of its row errors, in order")
    sequence = models.BigIntegerField(null=True, blank=True, unique=True, help_text="Position in the audit chain")
    previous_hash = models.CharField(max_length=64, blank=True)
    record_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="batch_chunk_unique_index")]

    def __str__(self) -> str:
        return f"chunk {self.index} of {self.job_id} ({self.status})"


class BatchResult(models.Model):
    """The decision for one row of a batch file: an audit record, written once and never changed."""

    job = models.ForeignKey(BatchJob, on_delete=models.PROTECT, related_name="results")
    chunk = models.ForeignKey(BatchChunk, on_delete=models.PROTECT, related_name="results")
    line = models.IntegerField(help_text="Line number in the file (1-based, header counted)")
    external_id = models.BigIntegerField(null=True, blank=True, help_text="ID_CLIENT as sent")
    probability_bad = models.FloatField()
    score = models.IntegerField()
    decision = models.CharField(max_length=8)
    reasons = models.JSONField(default=list)

    class Meta:
        ordering = ["job", "line"]
        # A chunk that runs twice can never store a row twice.
        constraints = [models.UniqueConstraint(fields=["job", "line"], name="batch_result_unique_line")]

    def __str__(self) -> str:
        return f"line {self.line} of {self.job_id}: {self.decision}"


class BatchRowError(models.Model):
    """A row of a batch file that could not be scored, with the column and the reason."""

    job = models.ForeignKey(BatchJob, on_delete=models.PROTECT, related_name="row_errors")
    chunk = models.ForeignKey(BatchChunk, on_delete=models.PROTECT, related_name="row_errors")
    line = models.IntegerField()
    column = models.CharField(max_length=60, blank=True)
    problem = models.TextField()

    class Meta:
        ordering = ["job", "line", "id"]
        indexes = [models.Index(fields=["job", "line"])]

    def __str__(self) -> str:
        return f"line {self.line}, {self.column or 'row'}: {self.problem}"

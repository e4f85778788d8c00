from __future__ import annotations

import uuid
from typing import Any

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
    reference_applicant = models.JSONField(
        default=dict, help_text="Typical approved applicant that reasons compare against"
    )
    rows = models.JSONField(default=dict)
    random_state = models.IntegerField()
    data_source = models.CharField(max_length=500)
    data_sha256 = models.CharField(max_length=64)
    artifact_path = models.CharField(max_length=500, help_text="Relative to CREDITRISK_MODEL_DIR")
    artifact_sha256 = models.CharField(max_length=64)
    scorer_path = models.CharField(
        max_length=500,
        blank=True,
        help_text="The compiled scorer every path scores with, relative to "
        "CREDITRISK_MODEL_DIR; empty for a version trained before it existed",
    )
    scorer_sha256 = models.CharField(max_length=64, blank=True)
    reference_probability = models.FloatField(
        null=True, blank=True, help_text="The reference applicant's own probability of default"
    )
    monotone = models.JSONField(
        default=list, blank=True, help_text="Inputs with a monotone constraint: [name, -1] never raises the risk"
    )
    library_versions = models.JSONField(default=dict)
    model_card = models.TextField(blank=True)
    threshold = models.FloatField(help_text="Decline when the probability of default reaches this")
    threshold_choice = models.JSONField(
        default=dict, blank=True, help_text="How the threshold was chosen (on validation predictions)"
    )
    validation_path = models.CharField(
        max_length=500,
        blank=True,
        help_text="Out-of-fold predictions of the development rows, relative to CREDITRISK_MODEL_DIR",
    )
    validation_sha256 = models.CharField(max_length=64, blank=True)
    training_seconds = models.FloatField(default=0)
    # Counts and bin edges, about 10 KB: plain data that needs no checksum to be safe to read (unlike a
    # pickle), kept with the registry row so every web and worker process reads it without the files.
    drift_reference = models.JSONField(
        default=dict,
        blank=True,
        help_text="Each input's and the score's distribution over the development rows (ml/drift.py); "
        "empty for a version trained before it was kept (`manage.py train --add-drift-reference`)",
    )
    refit = models.JSONField(
        default=dict,
        blank=True,
        help_text="With `train --refit-all`: the artifact refitted on every labelled row, holdout included, and "
        "its cross-validated figures over them (the holdout figures are those of the model before the refit); "
        "empty when the artifact was fitted on the development rows only",
    )
    is_active = models.BooleanField(default=False)
    # The challenger scores every live decision in shadow (scoring/services/challenger.py); never the active one.
    is_challenger = models.BooleanField(default=False)
    challenger_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="one_active_model"),
            models.UniqueConstraint(
                fields=["is_challenger"], condition=Q(is_challenger=True), name="one_challenger_model"
            ),
            models.CheckConstraint(condition=~Q(is_active=True, is_challenger=True), name="challenger_is_not_active"),
        ]

    def __str__(self) -> str:
        role = ", active" if self.is_active else ", challenger" if self.is_challenger else ""
        return f"{self.version} ({self.algorithm}{role})"

    @property
    def holdout_seen(self) -> bool:
        """Whether the artifact was fitted on the held-out rows too (``train --refit-all``)."""
        return bool(self.refit)

    @property
    def roc_auc(self) -> float | None:
        return self.cv_metrics.get("roc_auc")


def _applicant_field(column: Column) -> models.Field:
    """A typed model field for one input column of the schema."""
    options: dict[str, Any] = {
        "null": True,
        "blank": True,
        "help_text": column.description,
        "db_column": column.name.lower(),
    }
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
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="score_requests"
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED, db_index=True)
    probability_bad = models.FloatField(null=True, blank=True)
    score = models.IntegerField(null=True, blank=True)
    decision = models.CharField(max_length=8, blank=True, db_index=True)
    reasons = models.JSONField(default=list, blank=True)
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="score_requests"
    )
    threshold = models.FloatField(null=True, blank=True)
    input_snapshot = models.JSONField(help_text="The validated inputs exactly as scored")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    scoring_ms = models.FloatField(null=True, blank=True, help_text="Model time in the worker")
    attempts = models.PositiveSmallIntegerField(default=0)
    dispatched_at = models.DateTimeField(default=timezone.now, help_text="Last time its task was queued")
    claimed_by = models.CharField(
        max_length=200, blank=True, default="", help_text="The worker that took it last (its heartbeat hostname)"
    )
    sequence = models.BigIntegerField(null=True, blank=True, unique=True, help_text="Position in the audit chain")
    previous_hash = models.CharField(max_length=64, blank=True)
    record_hash = models.CharField(max_length=64, blank=True)
    audit_key_id = models.CharField(
        max_length=16, blank=True, help_text="Key of its HMAC link; blank: a legacy sha256 link"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["requested_by", "-created_at"]),
            models.Index(fields=["status", "dispatched_at"]),
        ]

    def __str__(self) -> str:
        return f"score request {self.id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES

    @property
    def external_id(self) -> int | None:
        """The caller's ID_CLIENT, as stored with the inputs (the same as its applicant's, without a join)."""
        value = self.input_snapshot.get(schema.ID_COLUMN) if isinstance(self.input_snapshot, dict) else None
        return None if value is None else int(value)


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
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="batch_jobs"
    )
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
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="batch_jobs"
    )
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
    claimed_by = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="The worker scoring it (its heartbeat hostname); empty once released",
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_done = models.IntegerField(default=0)
    rows_failed = models.IntegerField(default=0)
    rows_scored = models.IntegerField(
        default=0,
        help_text="Rows scored so far by the attempt under way, for progress only: the chunk's results "
        "are stored all at once, and counted in rows_done, when it is done",
    )
    scoring_ms = models.FloatField(null=True, blank=True)
    results_sha256 = models.CharField(max_length=64, blank=True, help_text="Digest of its results, in line order")
    errors_sha256 = models.CharField(max_length=64, blank=True, help_text="Digest of its row errors, in order")
    sequence = models.BigIntegerField(null=True, blank=True, unique=True, help_text="Position in the audit chain")
    previous_hash = models.CharField(max_length=64, blank=True)
    record_hash = models.CharField(max_length=64, blank=True)
    audit_key_id = models.CharField(
        max_length=16, blank=True, help_text="Key of its HMAC link; blank: a legacy sha256 link"
    )

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="batch_chunk_unique_index")]

    def __str__(self) -> str:
        return f"chunk {self.index} of {self.job_id} ({self.status})"


class BatchResult(models.Model):
    """The decision for one row of a batch file: an audit record, written once and never changed."""

    # No index of its own: the unique (job, line) index below serves every lookup by job (and the
    # check when a job is deleted), and one index fewer is less for each bulk row to write.
    job = models.ForeignKey(BatchJob, on_delete=models.PROTECT, related_name="results", db_index=False)
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


class DriftReport(models.Model):
    """A population stability report: the score's PSI and every input's CSI against the development rows.

    Written by the periodic task (the last 7 days of decisions) and by ``manage.py drift --store``;
    the latest periodic one feeds the ``creditrisk_drift_psi`` gauges of ``/metrics``.
    """

    class Source(models.TextChoices):
        WINDOW = "window"  # the decisions made in a time window, single and bulk
        FILE = "file"  # a file of applications

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="drift_reports")
    source = models.CharField(max_length=8, choices=Source.choices)
    description = models.CharField(max_length=500, help_text="The window or the file")
    since = models.DateTimeField(null=True, blank=True)
    until = models.DateTimeField(null=True, blank=True)
    rows = models.IntegerField(help_text="Rows compared with the development rows")
    score_psi = models.FloatField(null=True, blank=True)
    largest_psi = models.FloatField(null=True, blank=True, help_text="The highest index of any input")
    inputs_to_act_on = models.JSONField(default=list, help_text="Inputs whose index is above 0.25")
    report = models.JSONField(help_text="Every index with its bins (ml.drift.DriftReport)")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"drift of {self.description} against {self.model_version.version}"


class OutcomeUpload(models.Model):
    """A file of observed outcomes (who repaid) for past decisions: an audit record, written once.

    The upload, its outcomes and its listed rows (unknown ids, duplicates, conflicts, unreadable
    rows) are stored in one transaction, and the upload is a link of the audit chain covering digests
    of both; on PostgreSQL a trigger refuses to change or delete any of them.
    """

    class Channel(models.TextChoices):
        API = "api"
        ADMIN = "admin"
        COMMAND = "command"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="outcome_uploads"
    )
    decisions_of = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="outcome_uploads_for",
        help_text="Whose decisions its ids were matched with; empty: every client's",
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    original_name = models.CharField(max_length=255)
    note = models.CharField(max_length=200, blank=True, help_text="What the file is, in the uploader's words")
    size_bytes = models.BigIntegerField()
    file_sha256 = models.CharField(max_length=64)
    rows = models.IntegerField(help_text="Outcome rows in the file (blank lines are not rows)")
    applied = models.IntegerField(help_text="Outcomes recorded from it")
    counts = models.JSONField(default=dict, help_text="Rows listed instead of applied, by kind; and 'ambiguous'")
    ignored_columns = models.JSONField(default=list, blank=True)
    outcomes_sha256 = models.CharField(max_length=64, help_text="Digest of its outcomes, in line order")
    listed_sha256 = models.CharField(max_length=64, help_text="Digest of its listed rows, in order")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    sequence = models.BigIntegerField(null=True, blank=True, unique=True, help_text="Position in the audit chain")
    previous_hash = models.CharField(max_length=64, blank=True)
    record_hash = models.CharField(max_length=64, blank=True)
    audit_key_id = models.CharField(max_length=16, blank=True, help_text="Key of its HMAC link")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["uploaded_by", "-created_at"])]

    def __str__(self) -> str:
        return f"outcomes {self.original_name} ({self.applied} of {self.rows} applied)"


class Outcome(models.Model):
    """What became of one decision (a single one or a bulk row), from one row of an upload; never changed.

    A decision has at most one outcome: a second one for it is listed with its upload, not stored.
    """

    upload = models.ForeignKey(OutcomeUpload, on_delete=models.PROTECT, related_name="outcomes")
    line = models.IntegerField(help_text="Line in the uploaded file (1-based, header counted)")
    score_request = models.OneToOneField(
        ScoreRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="outcome"
    )
    batch_result = models.OneToOneField(
        BatchResult, null=True, blank=True, on_delete=models.PROTECT, related_name="outcome"
    )
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="outcomes", help_text="The version that made the decision"
    )
    external_id = models.BigIntegerField(null=True, blank=True, help_text="The decision's ID_CLIENT")
    bad = models.BooleanField(help_text="The client defaulted")
    observed_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["upload", "line"]
        constraints = [
            models.CheckConstraint(
                condition=Q(score_request__isnull=False, batch_result__isnull=True)
                | Q(score_request__isnull=True, batch_result__isnull=False),
                name="outcome_of_one_decision",
            )
        ]

    def __str__(self) -> str:
        return f"line {self.line} of {self.upload_id}: {'bad' if self.bad else 'good'}"

    @property
    def decision_id(self) -> str:
        """As an outcome file names the decision: its uuid, or a bulk row's ``<job id>:<line>``."""
        if self.score_request_id:
            return str(self.score_request_id)
        assert self.batch_result is not None  # the check constraint: a request's outcome or a bulk row's
        return f"{self.batch_result.job_id}:{self.batch_result.line}"


class OutcomeListedRow(models.Model):
    """A row of an outcome upload that was not applied (or applied with a warning), and why."""

    upload = models.ForeignKey(OutcomeUpload, on_delete=models.PROTECT, related_name="listed_rows")
    line = models.IntegerField()
    reference = models.CharField(max_length=200, help_text="What the row names: its decision id or ID_CLIENT")
    kind = models.CharField(max_length=10, help_text="invalid, unknown, duplicate, conflict; ambiguous: applied")
    problem = models.TextField()

    class Meta:
        ordering = ["upload", "line", "id"]
        indexes = [models.Index(fields=["upload", "line"])]

    def __str__(self) -> str:
        return f"line {self.line} ({self.reference}): {self.kind}"


class ShadowScore(models.Model):
    """The challenger's score of one live decision, made in shadow after the champion's answer was stored.

    Never the decision: nothing returns it as one, and it is written only once the champion's decision
    is committed (and its waiting caller signalled), by the same worker task. A single decision has one
    row (``score_request``); a bulk decision one row a line (``job``, ``chunk``, ``line``). The
    champion's probability, points and decision are copied beside the challenger's, so a comparison
    reads one table. A challenger that fails is recorded and skipped: a row with the error and no
    score, for a single decision; for a bulk chunk, one row for the whole chunk (no line, ``decisions``
    its rows). Not part of the audit chain (the champion's records and hashes are untouched), but
    written once: the service never changes a row, and on PostgreSQL a trigger refuses it.
    """

    # Few indexes, as a bulk job writes a row a line: (challenger, created_at) serves the challenger's
    # lookups, (job, line) the job's, the primary key the newest-first lists.
    challenger = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="shadow_scores", db_index=False)
    champion = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="shadowed_scores", db_index=False)
    score_request = models.OneToOneField(
        ScoreRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="shadow_score"
    )
    job = models.ForeignKey(
        BatchJob, null=True, blank=True, on_delete=models.PROTECT, related_name="shadow_scores", db_index=False
    )
    chunk = models.ForeignKey(
        BatchChunk, null=True, blank=True, on_delete=models.PROTECT, related_name="shadow_scores", db_index=False
    )
    line = models.IntegerField(null=True, blank=True, help_text="Line of the bulk file; empty for a chunk's failure")
    external_id = models.BigIntegerField(null=True, blank=True, help_text="ID_CLIENT as sent")
    champion_probability = models.FloatField(null=True, blank=True)
    champion_score = models.IntegerField(null=True, blank=True)
    champion_decision = models.CharField(max_length=8, blank=True)
    probability_bad = models.FloatField(null=True, blank=True, help_text="The challenger's; empty if it failed")
    score = models.IntegerField(null=True, blank=True)
    decision = models.CharField(max_length=8, blank=True, help_text="At the challenger's own cut-off")
    threshold = models.FloatField(null=True, blank=True, help_text="The challenger's cut-off when it scored")
    error = models.TextField(blank=True, help_text="Why the challenger could not score; empty when it did")
    decisions = models.PositiveIntegerField(default=1, help_text="Live decisions this row stands for")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]  # newest first: ids follow the order of writing
        constraints = [
            models.CheckConstraint(
                condition=Q(score_request__isnull=False, job__isnull=True, chunk__isnull=True)
                | Q(score_request__isnull=True, job__isnull=False, chunk__isnull=False),
                name="shadow_single_or_bulk",
            ),
            models.CheckConstraint(
                condition=Q(error="", probability_bad__isnull=False, decisions=1)
                | (~Q(error="") & Q(probability_bad__isnull=True)),
                name="shadow_scored_or_failed",
            ),
            # A chunk delivered twice, or a request finalised twice, is shadowed once (a chunk's failure rows
            # have no line, and NULLs differ: they are kept one a chunk by the next constraint).
            models.UniqueConstraint(fields=["job", "line"], name="shadow_unique_line"),
            models.UniqueConstraint(
                fields=["chunk"], condition=Q(line__isnull=True), name="shadow_one_failure_a_chunk"
            ),
        ]
        indexes = [models.Index(fields=["challenger", "created_at"], name="shadow_challenger_time")]

    def __str__(self) -> str:
        what = f"request {self.score_request_id}" if self.score_request_id else f"line {self.line} of {self.job_id}"
        return f"shadow of {what}: {self.decision or 'failed'}"

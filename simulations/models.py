from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.db import models

from scoring.models import ModelVersion


class SimulationRun(models.Model):
    """One lending simulation: a model shown every applicant of a labelled test set.

    The parameters (economics, cut-off, data source, model version) are fixed when the run is
    created; the worker fills in the summary, the references, the confidence intervals, the
    fairness tables and the data of the charts, and writes one :class:`SimulationDecision` per
    applicant for audit.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    class Source(models.TextChoices):
        HOLDOUT = "holdout", "training holdout"  # the rows held out when the model was trained
        FILE = "file", "labelled file"

    class ThresholdSource(models.TextChoices):
        MODEL = "model", "the model's policy cut-off"
        VALIDATION = "validation", "chosen on the model's validation predictions for these economics"
        GIVEN = "given", "given by the requester"

    FINAL_STATUSES = (Status.DONE, Status.FAILED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="simulation_runs"
    )
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="simulation_runs")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED, db_index=True)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.HOLDOUT)
    data_source = models.CharField(max_length=500, help_text="The file the test rows came from")
    data_sha256 = models.CharField(max_length=64, blank=True)
    economics = models.JSONField(default=dict, help_text="Exposure, margin, loss given default and costs")
    requested_threshold = models.FloatField(null=True, blank=True, help_text="A cut-off to evaluate, if given")
    apply_threshold = models.BooleanField(default=False, help_text="Store the cut-off as the model's policy")
    threshold = models.FloatField(null=True, blank=True, help_text="The cut-off the run decided at")
    threshold_source = models.CharField(max_length=10, choices=ThresholdSource.choices, blank=True)
    threshold_choice = models.JSONField(default=dict, blank=True, help_text="How the cut-off was chosen")
    threshold_applied = models.BooleanField(default=False)
    bootstrap_samples = models.PositiveIntegerField(default=1000)
    summary = models.JSONField(default=dict, blank=True, help_text="The policy beside approve-all and the oracle")
    intervals = models.JSONField(default=dict, blank=True, help_text="Bootstrap confidence intervals")
    fairness = models.JSONField(default=dict, blank=True, help_text="By SEX and AGE band; proxy strength")
    charts = models.JSONField(default=dict, blank=True, help_text="Data of the profit, ROC and score charts")
    warnings = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # When its message was last sent (None: run by the caller itself); the sweep sends it again if lost.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["requested_by", "-created_at"])]

    def __str__(self) -> str:
        return f"simulation {self.id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES

    @property
    def upload_path(self) -> Path:
        return Path(settings.CREDITRISK_SIMULATION_DIR) / f"{self.id}.upload"


class SimulationDecision(models.Model):
    """What the simulation decided for one applicant, and what that decision booked."""

    run = models.ForeignKey(SimulationRun, on_delete=models.CASCADE, related_name="decisions")
    row = models.PositiveIntegerField(help_text="Position of the applicant in the test set, from 1")
    external_id = models.BigIntegerField(help_text="ID_CLIENT")
    probability_bad = models.FloatField()
    score = models.IntegerField()
    decision = models.CharField(max_length=8)
    bad = models.BooleanField(help_text="The observed outcome: the client defaulted")
    exposure = models.FloatField()
    profit = models.FloatField(help_text="Booked on this applicant under the run's economics")

    class Meta:
        ordering = ["run", "row"]
        constraints = [models.UniqueConstraint(fields=["run", "row"], name="one_decision_per_row")]

    def __str__(self) -> str:
        return f"{self.external_id}: {self.decision}"

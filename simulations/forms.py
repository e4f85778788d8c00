"""The back-office form that starts a simulation: the data to test on, the cut-off and the economics.

The values are checked by the API's own serializer, so the admin accepts exactly what
``POST /api/v1/simulations/`` accepts, with the same messages.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings

from ml.file_formats import DataFormatError
from ml.simulation import Economics
from scoring.models import ModelVersion
from simulations.apis import SimulationParametersSerializer
from simulations.services import simulation_upload_check

_DEFAULTS = Economics()
_KEPT_TOKEN = re.compile(r"^[0-9a-f]{32}$")

DATA_FIELDS = ("data", "file", "model_version")
CUT_OFF_FIELDS = ("threshold", "apply_threshold", "bootstrap_samples")
ECONOMICS_FIELDS = (
    "exposure",
    "margin",
    "loss_given_default",
    "income_multiple",
    "exposure_cap",
    "cost_per_application",
    "cost_of_funds",
)


class SimulationStartForm(forms.Form):
    # A field named "data": the form's metaclass moves declared fields to base_fields, so on an instance
    # self.data stays the bound data (a QueryDict, or a dict), not this field; Any covers both.
    data: Any = forms.ChoiceField(
        label="Test the model on",
        choices=[("holdout", "the rows held out when the model was trained"), ("file", "a labelled file I upload")],
        initial="holdout",
        widget=forms.RadioSelect,
    )
    file = forms.FileField(
        required=False,
        label="Labelled file",
        help_text="Original PAKDD format (TAB, no header, latin-1, TARGET_LABEL_BAD=1 last) or CSV "
        "with a header row including TARGET_LABEL_BAD=1; either may be gzip-compressed",
    )
    kept_upload = forms.CharField(required=False, widget=forms.HiddenInput)
    kept_name = forms.CharField(required=False, widget=forms.HiddenInput)
    model_version = forms.ModelChoiceField(
        queryset=ModelVersion.objects.all(), required=False, empty_label="the active version"
    )
    threshold = forms.FloatField(
        required=False,
        label="Cut-off to evaluate",
        help_text="A probability of default between 0 and 1; empty: the model's policy "
        "cut-off, or the one its validation predictions choose for these economics",
    )
    apply_threshold = forms.BooleanField(
        required=False,
        label="Make the run's cut-off the model's policy",
        help_text="Single and bulk scoring decide at it from then on",
    )
    bootstrap_samples = forms.IntegerField(
        initial=1000, help_text="Resamples for the confidence intervals (100 to 10,000; more is slower)"
    )
    exposure = forms.FloatField(initial=_DEFAULTS.exposure, help_text="Lent to each approved applicant")
    margin = forms.FloatField(initial=_DEFAULTS.margin, help_text="Share of the exposure a good client earns")
    loss_given_default = forms.FloatField(
        initial=_DEFAULTS.loss_given_default, help_text="Share of the exposure lost on a client who defaults"
    )
    income_multiple = forms.FloatField(
        required=False, help_text="Lend this multiple of the monthly income instead (the exposure where there is none)"
    )
    exposure_cap = forms.FloatField(required=False, help_text="At most this much when lending by income")
    cost_per_application = forms.FloatField(
        initial=_DEFAULTS.cost_per_application, help_text="Paid on every applicant, approved or not"
    )
    cost_of_funds = forms.FloatField(
        initial=_DEFAULTS.cost_of_funds, help_text="Share of the exposure of every approved loan"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.upload: bytes | None = None  # the file's bytes once read and found usable
        self.upload_name = ""

    def clean(self) -> dict[str, Any]:
        values = super().clean()
        assert values is not None  # Form.clean returns cleaned_data
        self._clean_upload(values)
        parameters = {name: values.get(name) for name in (*CUT_OFF_FIELDS, *ECONOMICS_FIELDS)}
        serializer = SimulationParametersSerializer(data={k: v for k, v in parameters.items() if v is not None})
        if not serializer.is_valid():
            for name, messages in serializer.errors.items():
                self.add_error(name if name in self.fields else None, [str(m) for m in messages])
        else:
            values["economics"] = serializer.validated_data["economics"]
        return values

    def _clean_upload(self, values: dict[str, Any]) -> None:
        file, kept = values.get("file"), values.get("kept_upload") or ""
        if file is not None:
            if file.size > settings.CREDITRISK_SIMULATION_MAX_UPLOAD_BYTES:
                self.add_error(
                    "file",
                    f"{file.name} is {file.size:,} bytes; at most "
                    f"{settings.CREDITRISK_SIMULATION_MAX_UPLOAD_BYTES:,} are accepted.",
                )
                return
            content, name = file.read(), file.name or "file"
        elif _KEPT_TOKEN.match(kept) and kept_path(kept).is_file():
            content, name = kept_path(kept).read_bytes(), values.get("kept_name") or "file"
        elif values.get("data") == "file":
            self.add_error("file", "Choose the labelled file to test on, or test on the held-out rows.")
            return
        else:
            return
        try:
            simulation_upload_check(content=content)
        except DataFormatError as exc:
            self.add_error("file", f"{name}: {exc}")
            return
        if values.get("data") == "file":
            self.upload, self.upload_name = content, name

    def keep_upload(self) -> None:
        """Keep a usable file across a form shown again for another field's error: nothing is lost."""
        if self.upload is None or "file" in self.errors:
            return
        token = self.cleaned_data.get("kept_upload") or ""
        if not _KEPT_TOKEN.match(token):
            token = uuid.uuid4().hex
            kept_path(token).parent.mkdir(parents=True, exist_ok=True)
            kept_path(token).write_bytes(self.upload)
        self.data = self.data.copy()
        self.data["kept_upload"], self.data["kept_name"] = token, self.upload_name

    def discard_kept_upload(self) -> None:
        token = self.cleaned_data.get("kept_upload") or ""
        if _KEPT_TOKEN.match(token):
            kept_path(token).unlink(missing_ok=True)

    @property
    def kept_file_name(self) -> str:
        return str(self.data.get("kept_name") or "") if self.data.get("kept_upload") else ""


def kept_path(token: str) -> Path:
    return Path(settings.CREDITRISK_SIMULATION_DIR) / "kept" / f"{token}.upload"

"""REST API of lending simulations: one view per operation."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiRequest, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.exports import csv_response
from api.lookups import VERSION_PATTERN, visible_or_404
from api.openapi import UPLOAD_ENCODING
from api.pagination import page_serializer, paginated_response
from api.parsers import JSONParser
from api.responses import COMMON, INVALID, NO_PAGE, UNSUPPORTED, error, not_found
from ml.file_formats import DataFormatError
from ml.simulation import LIMITS, Economics
from scoring.model_registry import NoActiveModelError
from scoring.models import ModelVersion
from simulations.models import SimulationRun
from simulations.selectors import DECISION_COLUMNS, simulation_decision_rows, simulation_run_list
from simulations.services import SimulationError, simulation_run_create, simulation_upload_check

_NOT_FOUND = not_found("simulation")


class SimulationRunOutputSerializer(serializers.ModelSerializer):
    model_version: serializers.SlugRelatedField[ModelVersion] = serializers.SlugRelatedField(
        slug_field="version", read_only=True
    )
    requested_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    # Blank until the run has chosen its cut-off (read-only model fields lose their blank choice).
    threshold_source = serializers.ChoiceField(
        choices=SimulationRun.ThresholdSource.choices, allow_blank=True, read_only=True
    )
    limits = serializers.SerializerMethodField()
    decisions_csv = serializers.SerializerMethodField()

    class Meta:
        model = SimulationRun
        fields = [
            "id",
            "status",
            "model_version",
            "requested_by",
            "source",
            "data_source",
            "data_sha256",
            "economics",
            "threshold",
            "threshold_source",
            "threshold_choice",
            "apply_threshold",
            "threshold_applied",
            "summary",
            "intervals",
            "fairness",
            "charts",
            "warnings",
            "limits",
            "decisions_csv",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields  # output only: every field is always in the answer (required in the schema)

    def get_limits(self, run: SimulationRun) -> list[str]:
        return list(LIMITS)

    def get_decisions_csv(self, run: SimulationRun) -> str | None:
        return f"/api/v1/simulations/{run.id}/decisions/" if run.status == SimulationRun.Status.DONE else None


class SimulationParametersSerializer(serializers.Serializer):
    model_version = serializers.RegexField(
        VERSION_PATTERN, max_length=40, required=False, help_text="Default: the active version"
    )
    threshold = serializers.FloatField(
        required=False, min_value=0.0, max_value=1.0, help_text="Evaluate this cut-off instead of the policy's"
    )
    apply_threshold = serializers.BooleanField(
        default=False, help_text="Staff only: store the run's cut-off as the model's policy threshold"
    )
    bootstrap_samples = serializers.IntegerField(default=1000, min_value=100, max_value=10000)
    # Economics (defaults in docs/simulation.md); the ranges keep every value meaningful and finite.
    exposure = serializers.FloatField(required=False, min_value=0.01, max_value=1e9)
    margin = serializers.FloatField(required=False, min_value=0.0001, max_value=10)
    loss_given_default = serializers.FloatField(required=False, min_value=0, max_value=10)
    income_multiple = serializers.FloatField(required=False, min_value=0.01, max_value=1000)
    exposure_cap = serializers.FloatField(required=False, min_value=0.01, max_value=1e9)
    cost_per_application = serializers.FloatField(required=False, min_value=0, max_value=1e9)
    cost_of_funds = serializers.FloatField(required=False, min_value=0, max_value=10)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            attrs["economics"] = Economics.from_dict(attrs)
        except ValueError as exc:
            raise serializers.ValidationError({"economics": [str(exc)]}) from exc
        return attrs


class SimulationUploadSerializer(SimulationParametersSerializer):
    """A multipart body is for an upload: without its file it names no data, and is refused (JSON, even
    ``{}``, runs on the model's holdout rows)."""

    file = serializers.FileField(
        allow_empty_file=True,  # an empty file is refused by the file reader, in the words every upload gets
        help_text="A labelled file of applications: the original PAKDD format (TAB, no header, latin-1) or CSV "
        "with a header row, either optionally gzip-compressed. To use the model's holdout rows, send JSON instead",
        error_messages={
            "required": "A multipart body must carry the labelled file to simulate on (field `file`); "
            "to simulate on the model's holdout rows, send the parameters as JSON ({{}} for the defaults)."
        },
    )


class SimulationRunCreateApi(APIView):
    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(
        request={
            "application/json": SimulationParametersSerializer,
            "multipart/form-data": OpenApiRequest(SimulationUploadSerializer, encoding=UPLOAD_ENCODING),
        },
        responses={
            202: SimulationRunOutputSerializer,
            400: INVALID,
            403: error("apply_threshold is for staff only"),
            404: error("No such model version"),
            409: error("No model version is active"),
            413: error("The file is too large"),
            **COMMON,
            **UNSUPPORTED,
        },
        summary="Start a lending simulation (runs on a worker; poll the returned id)",
    )
    def post(self, request: Request) -> Response:
        multipart = (request.content_type or "").startswith("multipart/")
        data = (SimulationUploadSerializer if multipart else SimulationParametersSerializer)(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if values["apply_threshold"] and not request.user.is_staff:
            raise PermissionDenied("Only staff may change a model's policy threshold.")
        version = None
        if "model_version" in values:
            version = get_object_or_404(ModelVersion, version=values["model_version"])
        upload = _upload(values.get("file"))
        try:
            run = simulation_run_create(
                requested_by=request.user,
                economics=values["economics"],
                model_version=version,
                upload=upload,
                upload_name=values["file"].name if upload is not None else "",
                threshold=values.get("threshold"),
                apply_threshold=values["apply_threshold"],
                bootstrap_samples=values["bootstrap_samples"],
            )
        except NoActiveModelError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        except SimulationError as exc:  # the holdout of a version refitted on it: no longer a test set
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(
            SimulationRunOutputSerializer(run).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": f"/api/v1/simulations/{run.id}/"},
        )


class FileTooLarge(serializers.ValidationError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE


def _upload(file: Any) -> bytes | None:
    """The uploaded file's bytes, refused at once when too large, unreadable or without labels."""
    if file is None:
        return None
    if file.size > settings.CREDITRISK_SIMULATION_MAX_UPLOAD_BYTES:
        raise FileTooLarge(
            {
                "detail": f"The file is {file.size:,} bytes; at most "
                f"{settings.CREDITRISK_SIMULATION_MAX_UPLOAD_BYTES:,} are accepted."
            }
        )
    content = file.read()
    try:
        simulation_upload_check(content=content)
    except DataFormatError as exc:
        raise serializers.ValidationError({"file": [str(exc)]}) from exc
    return content


class SimulationRunListItemSerializer(SimulationRunOutputSerializer):
    """A run in a list: everything but the data of its charts (``GET /simulations/{id}/`` has them)."""

    class Meta(SimulationRunOutputSerializer.Meta):
        fields = [name for name in SimulationRunOutputSerializer.Meta.fields if name != "charts"]


SimulationRunPageSerializer = page_serializer(SimulationRunListItemSerializer, name="SimulationRunPage")


class SimulationRunListApi(APIView):
    class SimulationFilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=SimulationRun.Status.choices, required=False)
        page = serializers.IntegerField(required=False, min_value=1)
        page_size = serializers.IntegerField(required=False, min_value=1, max_value=200)

    @extend_schema(
        parameters=[SimulationFilterSerializer],
        summary="List simulations (your own; staff: everyone's)",
        operation_id="v1_simulations_list",
        responses={
            200: SimulationRunPageSerializer,
            400: INVALID,
            404: NO_PAGE,
            **COMMON,
        },
    )
    def get(self, request: Request) -> Response:
        filters = self.SimulationFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        queryset = simulation_run_list(user=request.user, status=filters.validated_data.get("status"))
        return paginated_response(
            queryset=queryset, serializer_class=SimulationRunListItemSerializer, request=request, view=self
        )


class SimulationRunListCreateApi(SimulationRunCreateApi, SimulationRunListApi):
    """``/simulations/``: POST starts one (``SimulationRunCreateApi``), GET lists (``SimulationRunListApi``)."""


def _visible_run(request: Request, run_id: str) -> SimulationRun:
    return visible_or_404(simulation_run_list(user=request.user), run_id, "simulation")


class SimulationRunDetailApi(APIView):
    @extend_schema(
        responses={200: SimulationRunOutputSerializer, **_NOT_FOUND, **COMMON},
        summary="A simulation's status and, once done, its results",
    )
    def get(self, request: Request, run_id: str) -> Response:
        return Response(SimulationRunOutputSerializer(_visible_run(request, run_id)).data)


class SimulationDecisionsApi(APIView):
    @extend_schema(
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            **_NOT_FOUND,
            409: error("The simulation is not done"),
            **COMMON,
        },
        summary="Every applicant's decision and booked profit, as CSV",
    )
    def get(self, request: Request, run_id: str) -> Response | StreamingHttpResponse:
        run = _visible_run(request, run_id)
        if run.status != SimulationRun.Status.DONE:
            return Response({"detail": f"The simulation is {run.status}."}, status=status.HTTP_409_CONFLICT)
        return csv_response(
            f"simulation-{run.id}-decisions.csv",
            DECISION_COLUMNS,
            simulation_decision_rows(run=run),
            content_type="text/csv",
        )

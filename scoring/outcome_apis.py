"""REST API of observed outcomes: upload a file of who repaid, list the uploads, and (staff) the realised
performance of a model version."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiRequest, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from api.exports import CSVOrJSONError, csv_response
from api.lookups import visible_or_404
from api.pagination import page_serializer, paginated_response
from api.responses import COMMON, CSV, INVALID, NO_PAGE, UNSUPPORTED, error, not_found
from ml import outcomes as outcome_file
from ml import schema
from ml.file_formats import DataFormatError
from scoring.models import ModelVersion, OutcomeUpload
from scoring.selectors import LISTED_CSV_HEADER, outcome_listed_rows, outcome_upload_list
from scoring.services.batch_files import UploadTooLargeError
from scoring.services.outcomes import model_version_performance, outcome_upload_create
from scoring.uploads import SizeLimitUploadHandler

LISTED_SHOWN = 1000  # listed rows in a JSON answer; the CSV has every one
_NOT_FOUND = not_found("outcome upload")
# A client sending the file part as text/csv is what the server documents; gzip is read as well.
OUTCOME_ENCODING = {"file": {"contentType": "text/csv"}}


class OutcomeCountsSerializer(serializers.Serializer):
    invalid = serializers.IntegerField(help_text="Rows that could not be read (or name a date before the decision)")
    unknown = serializers.IntegerField(help_text="Rows whose id names no decision this user may see")
    duplicate = serializers.IntegerField(help_text="The same outcome again, in the file or already recorded")
    conflict = serializers.IntegerField(help_text="Another outcome for a decision, in the file or already recorded")
    ambiguous = serializers.IntegerField(
        help_text="Applied: the ID_CLIENT has several decisions and the latest was taken (not counted in the others)"
    )


class ListedRowSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="Line in the file (1-based, header counted)")
    reference = serializers.CharField(help_text="What the row names: its decision id or ID_CLIENT")
    kind = serializers.ChoiceField(choices=list(outcome_file.KINDS))
    problem = serializers.CharField()


class OutcomeUploadSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    original_name = serializers.CharField()
    note = serializers.CharField()
    channel = serializers.ChoiceField(choices=OutcomeUpload.Channel.choices)
    uploaded_by = serializers.CharField(source="uploaded_by.username", allow_null=True, help_text="Who sent it")
    decisions_of = serializers.CharField(
        source="decisions_of.username",
        allow_null=True,
        help_text="Whose decisions the ids were matched with; null: every client's (staff)",
    )
    size_bytes = serializers.IntegerField()
    file_sha256 = serializers.CharField()
    rows = serializers.IntegerField(help_text="Outcome rows in the file")
    applied = serializers.IntegerField(help_text="Outcomes recorded from it")
    counts = OutcomeCountsSerializer(
        help_text="Rows listed instead of applied, by kind (and those applied with a warning)"
    )
    ignored_columns = serializers.ListField(child=serializers.CharField())
    audit_sequence = serializers.IntegerField(source="sequence", help_text="Its place in the audit chain")
    record_hash = serializers.CharField(help_text="Its link's HMAC in the audit chain")
    created_at = serializers.DateTimeField()
    listed_url = serializers.SerializerMethodField()

    @extend_schema_field(serializers.URLField(help_text="Every listed row, as CSV"))
    def get_listed_url(self, upload: OutcomeUpload) -> str:
        return reverse("outcome-listed", kwargs={"upload_id": upload.pk}, request=self.context.get("request"))


class OutcomeUploadDetailSerializer(OutcomeUploadSerializer):
    listed = serializers.SerializerMethodField()
    listed_total = serializers.SerializerMethodField()

    @extend_schema_field(
        ListedRowSerializer(
            many=True, help_text=f"The first {LISTED_SHOWN} rows listed, in line order; listed_url has every one"
        )
    )
    def get_listed(self, upload: OutcomeUpload) -> list[dict[str, Any]]:
        return [
            dict(zip(LISTED_CSV_HEADER, row, strict=True))
            for row in outcome_listed_rows(upload=upload, limit=LISTED_SHOWN)
        ]

    @extend_schema_field(serializers.IntegerField())
    def get_listed_total(self, upload: OutcomeUpload) -> int:
        return sum(upload.counts.values())


OutcomeUploadPageSerializer = page_serializer(OutcomeUploadSerializer, name="OutcomeUploadPage")


class OutcomeUploadListCreateApi(APIView):
    parser_classes = [MultiPartParser]

    class OutcomeFileSerializer(serializers.Serializer):
        file = serializers.FileField(
            help_text="CSV with a header row: ID_CLIENT or decision_id (a single decision's id, or a bulk decision's "
            "<job id>:<line>), bad (1 defaulted, 0 repaid) and optionally date (YYYY-MM-DD); commas, semicolons or "
            "tabs; optionally gzip-compressed"
        )
        note = serializers.RegexField(
            rf"^[^{schema.CONTROL_CHARACTERS[1:-1]}]*$",
            max_length=200,
            required=False,
            allow_blank=True,
            help_text="What the file is (kept with the upload)",
        )
        decisions_of = serializers.RegexField(
            r"^[\w.@+-]+$",
            max_length=150,
            required=False,
            help_text="Staff only: match the ids with this client's (username) decisions alone; without it, staff "
            "match every client's. A client's file always matches its own decisions",
        )

    class FilterSerializer(serializers.Serializer):
        page = serializers.IntegerField(required=False, min_value=1)
        page_size = serializers.IntegerField(required=False, min_value=1, max_value=500)

    def initialize_request(self, request: Any, *args: Any, **kwargs: Any) -> Request:
        # As bulk uploads: a body over the limit is refused while it streams in, and nothing is kept of it.
        request.upload_handlers.insert(0, SizeLimitUploadHandler(request))
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(
        request={"multipart/form-data": OpenApiRequest(OutcomeFileSerializer, encoding=OUTCOME_ENCODING)},
        responses={
            201: OutcomeUploadDetailSerializer,
            400: INVALID,
            403: error("decisions_of sent by a client (staff only)"),
            404: error("decisions_of names no user"),
            413: error("The file is larger than the upload limit"),
            **COMMON,
            **UNSUPPORTED,
        },
        summary="Upload observed outcomes of past decisions; the answer lists every row not applied, and why",
    )
    def post(self, request: Request) -> Response:
        if request.FILES.get("file") is None:
            raise ValidationError({"file": ["No file was submitted (multipart field `file`)."]})
        data = self.OutcomeFileSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload, decisions_of = data.validated_data["file"], _client_named(request, data.validated_data)
        try:
            stored = outcome_upload_create(
                content=upload.chunks(),
                original_name=upload.name or "outcomes",
                uploaded_by=request.user,
                channel=OutcomeUpload.Channel.API,
                note=data.validated_data.get("note", ""),
                decisions_of=decisions_of,
            )
        except DataFormatError as exc:
            raise ValidationError({"file": [f"{upload.name}: {exc}"]}) from exc
        except UploadTooLargeError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        body = OutcomeUploadDetailSerializer(stored, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[FilterSerializer],
        summary="List outcome uploads (a client's own; staff: all)",
        operation_id="v1_outcomes_list",
        responses={
            200: OutcomeUploadPageSerializer,
            400: INVALID,
            404: NO_PAGE,
            **COMMON,
        },
    )
    def get(self, request: Request) -> Response:
        self.FilterSerializer(data=request.query_params.dict()).is_valid(raise_exception=True)
        return paginated_response(
            queryset=outcome_upload_list(user=request.user),
            serializer_class=OutcomeUploadSerializer,
            request=request,
            view=self,
            context={"request": request},
        )


def _client_named(request: Request, values: dict[str, Any]) -> Any:
    """The user ``decisions_of`` names (staff only), or None."""
    name = values.get("decisions_of")
    if not name:
        return None
    if not request.user.is_staff:
        raise PermissionDenied("only staff name a client (decisions_of): a client's file matches its own decisions")
    user = get_user_model().objects.filter(username=name).first()
    if user is None:
        raise NotFound(f"decisions_of: no user {name}")
    return user


def _visible_upload(request: Request, upload_id: str) -> OutcomeUpload:
    return visible_or_404(outcome_upload_list(user=request.user), upload_id, "outcome upload")


class OutcomeUploadDetailApi(APIView):
    @extend_schema(
        responses={200: OutcomeUploadDetailSerializer, **_NOT_FOUND, **COMMON},
        summary="An outcome upload: its counts and the rows it listed",
    )
    def get(self, request: Request, upload_id: str) -> Response:
        upload = _visible_upload(request, upload_id)
        return Response(OutcomeUploadDetailSerializer(upload, context={"request": request}).data)


class OutcomeUploadListedApi(APIView):
    content_negotiation_class = CSVOrJSONError

    @extend_schema(
        responses={(200, "text/csv"): CSV, **_NOT_FOUND, **COMMON},
        summary="Every row of an outcome upload not applied (or applied with a warning), as CSV: "
        "line,reference,kind,problem",
    )
    def get(self, request: Request, upload_id: str) -> Any:
        upload = _visible_upload(request, upload_id)
        return csv_response(f"{upload.pk}-listed.csv", LISTED_CSV_HEADER, outcome_listed_rows(upload=upload))


# -- realised performance (staff) -------------------------------------------------------------------


class RatesSerializer(serializers.Serializer):
    outcomes = serializers.IntegerField()
    bads = serializers.IntegerField()
    bad_rate = serializers.FloatField(allow_null=True, help_text="Observed")
    expected_bad_rate = serializers.FloatField(allow_null=True, help_text="Mean predicted probability of default")


class BandSerializer(serializers.Serializer):
    band = serializers.IntegerField(help_text="1 is the safest")
    outcomes = serializers.IntegerField()
    bads = serializers.IntegerField()
    bad_rate = serializers.FloatField(help_text="Observed")
    mean_probability = serializers.FloatField(help_text="Predicted")
    probability_low = serializers.FloatField()
    probability_high = serializers.FloatField()
    score_low = serializers.IntegerField(allow_null=True)
    score_high = serializers.IntegerField(allow_null=True)
    interval_low = serializers.FloatField(allow_null=True, help_text="95% Wilson interval of the observed rate")
    interval_high = serializers.FloatField(allow_null=True)
    verdict = serializers.CharField(help_text="consistent, over-predicted or under-predicted (against the interval)")


class ProfitSerializer(serializers.Serializer):
    loans = serializers.IntegerField(help_text="Approved decisions with an outcome")
    exposure = serializers.FloatField()
    realised = serializers.FloatField(help_text="Booked as the simulation books a loan, from the outcomes")
    expected = serializers.FloatField(help_text="The same loans' value expected from their predicted probabilities")
    difference = serializers.FloatField()
    realised_per_loan = serializers.FloatField(allow_null=True)
    expected_per_loan = serializers.FloatField(allow_null=True)
    economics = serializers.DictField(child=serializers.FloatField(allow_null=True))


class PerformanceSerializer(serializers.Serializer):
    model_version = serializers.CharField()
    threshold = serializers.FloatField()
    uploads = serializers.IntegerField(help_text="Uploads that recorded outcomes of its decisions")
    decisions = serializers.IntegerField(allow_null=True, help_text="Every decision it made, single and bulk")
    approved_decisions = serializers.IntegerField(allow_null=True)
    approval_rate = serializers.FloatField(allow_null=True)
    outcome_coverage = serializers.FloatField(allow_null=True, help_text="Share of approved decisions with an outcome")
    outcomes = serializers.IntegerField()
    bads = serializers.IntegerField()
    bad_rate = serializers.FloatField(allow_null=True)
    expected_bad_rate = serializers.FloatField(allow_null=True)
    approved = RatesSerializer()
    declined = RatesSerializer(help_text="Declined decisions with an outcome: loans made despite the decision")
    roc_auc = serializers.FloatField(allow_null=True)
    gini = serializers.FloatField(allow_null=True)
    ks = serializers.FloatField(allow_null=True)
    discrimination_note = serializers.CharField(help_text="Why ROC AUC and KS are missing, if they are")
    calibration = BandSerializer(many=True)
    profit = ProfitSerializer()
    limit = serializers.CharField(
        help_text="What these figures cannot say: outcomes exist only for approved applicants"
    )
    notes = serializers.ListField(child=serializers.CharField())


class ModelVersionPerformanceApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        responses={
            200: PerformanceSerializer,
            403: error("Staff only"),
            404: error("No such model version"),
            **COMMON,
        },
        summary="Realised performance of a model version on its decisions with outcomes (staff)",
    )
    def get(self, request: Request, version: str) -> Response:
        model_version = get_object_or_404(ModelVersion, version=version)
        return Response(model_version_performance(model_version=model_version))

"""REST API of bulk CSV jobs: upload, status and progress, cancel, results and errors as CSV."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiRequest, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from api.exports import CSVOrJSONError, csv_response
from api.lookups import visible_or_404
from api.openapi import UPLOAD_ENCODING
from api.pagination import page_serializer, paginated_response
from api.responses import COMMON, CSV, INVALID, NO_PAGE, RETRY_AFTER, UNAVAILABLE, UNSUPPORTED, error, not_found
from ml.file_formats import DataFormatError
from scoring.models import BatchJob, ModelVersion
from scoring.selectors import (
    ERROR_CSV_HEADER,
    RESULT_CSV_HEADER,
    batch_error_rows,
    batch_job_list,
    batch_job_progress,
    batch_result_rows,
)
from scoring.services.batch_files import UploadTooLargeError
from scoring.services.batch_jobs import batch_job_cancel, batch_job_create
from scoring.uploads import SizeLimitUploadHandler

_NOT_FOUND = not_found("batch job")
_TOO_LARGE = {413: error("The file is larger than the upload limit")}


class BatchProgressSerializer(serializers.Serializer):
    rows_handled = serializers.IntegerField(
        help_text="Rows scored or found invalid: those of the chunks stored, plus those scored so far by the "
        "chunks under way"
    )
    rows_in_progress = serializers.IntegerField(
        help_text="Of rows_handled, those scored by chunks under way (their results are stored when each chunk is done)"
    )
    percent = serializers.FloatField()
    rows_per_second = serializers.FloatField(allow_null=True)
    eta_seconds = serializers.FloatField(allow_null=True)
    elapsed_seconds = serializers.FloatField()


class BatchJobOutputSerializer(serializers.ModelSerializer):
    model_version: serializers.SlugRelatedField[ModelVersion] = serializers.SlugRelatedField(
        slug_field="version", read_only=True, allow_null=True
    )
    file_format = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    results_url = serializers.SerializerMethodField()
    errors_url = serializers.SerializerMethodField()

    class Meta:
        model = BatchJob
        fields = [
            "id",
            "original_name",
            "status",
            "file_format",
            "size_bytes",
            "file_sha256",
            "rows_total",
            "rows_done",
            "rows_failed",
            "chunks_total",
            "chunks_done",
            "progress",
            "model_version",
            "threshold",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "results_url",
            "errors_url",
        ]
        read_only_fields = fields  # output only: every field is always in the answer (required in the schema)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_file_format(self, job: BatchJob) -> str | None:
        layout = job.layout or {}
        if not layout:
            return None
        return str(layout["file_format"]) + ("+gzip" if layout.get("compressed") else "")

    @extend_schema_field(BatchProgressSerializer)
    def get_progress(self, job: BatchJob) -> dict[str, Any]:
        return batch_job_progress(job=job)

    @extend_schema_field(serializers.URLField())
    def get_results_url(self, job: BatchJob) -> str:
        return reverse("batch-results", kwargs={"job_id": job.pk}, request=self.context.get("request"))

    @extend_schema_field(serializers.URLField())
    def get_errors_url(self, job: BatchJob) -> str:
        return reverse("batch-errors", kwargs={"job_id": job.pk}, request=self.context.get("request"))


BatchJobPageSerializer = page_serializer(BatchJobOutputSerializer, name="BatchJobPage")


class BatchJobListCreateApi(APIView):
    parser_classes = [MultiPartParser]

    class UploadSerializer(serializers.Serializer):
        file = serializers.FileField(
            help_text="A file of applications: the original PAKDD format (TAB, no header, "
            "latin-1) or CSV with a header row, either optionally gzip-compressed. "
            "Any other content (binary, another layout) is refused with 400"
        )

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=BatchJob.Status.choices, required=False)
        page = serializers.IntegerField(required=False, min_value=1)
        page_size = serializers.IntegerField(required=False, min_value=1, max_value=500)

    def initialize_request(self, request: Any, *args: Any, **kwargs: Any) -> Request:
        # Before anything reads the body (the CSRF check of a session may): an upload over the
        # limit is refused while it streams in, and nothing is kept of it.
        request.upload_handlers.insert(0, SizeLimitUploadHandler(request))
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(
        request={"multipart/form-data": OpenApiRequest(UploadSerializer, encoding=UPLOAD_ENCODING)},
        parameters=[RETRY_AFTER],
        responses={202: BatchJobOutputSerializer, 400: INVALID, **_TOO_LARGE, **COMMON, **UNAVAILABLE, **UNSUPPORTED},
        summary="Upload a file of applications to score in bulk",
    )
    def post(self, request: Request) -> Response:
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationError({"file": ["No file was submitted (multipart field `file`)."]})
        try:
            job = batch_job_create(
                content=upload.chunks(),
                original_name=upload.name or "upload",
                uploaded_by=request.user,
                channel=BatchJob.Channel.API,
            )
        except DataFormatError as exc:
            raise ValidationError({"file": [f"{upload.name}: {exc}"]}) from exc
        except UploadTooLargeError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        return Response(
            BatchJobOutputSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED
        )

    @extend_schema(
        parameters=[FilterSerializer],
        summary="List batch jobs",
        operation_id="v1_batches_list",
        responses={
            200: BatchJobPageSerializer,
            400: INVALID,
            404: NO_PAGE,
            **COMMON,
        },
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        queryset = batch_job_list(user=request.user, status=filters.validated_data.get("status"))
        return paginated_response(
            queryset=queryset,
            serializer_class=BatchJobOutputSerializer,
            request=request,
            view=self,
            context={"request": request},
        )


def _visible_job(request: Request, job_id: str) -> BatchJob:
    return visible_or_404(batch_job_list(user=request.user), job_id, "batch job")


class BatchJobDetailApi(APIView):
    @extend_schema(
        responses={200: BatchJobOutputSerializer, **_NOT_FOUND, **COMMON},
        summary="Status, counts and progress of a batch job",
    )
    def get(self, request: Request, job_id: str) -> Response:
        return Response(BatchJobOutputSerializer(_visible_job(request, job_id), context={"request": request}).data)


class BatchJobCancelApi(APIView):
    @extend_schema(
        request=None,
        responses={
            200: BatchJobOutputSerializer,
            **_NOT_FOUND,
            **COMMON,
            409: error("Already finished"),
        },
        summary="Cancel a batch job; rows already scored stay on record",
    )
    def post(self, request: Request, job_id: str) -> Response:
        job = _visible_job(request, job_id)
        if job.is_final:
            return Response({"detail": f"the job is already {job.status}"}, status=status.HTTP_409_CONFLICT)
        job = batch_job_cancel(job=job)
        return Response(BatchJobOutputSerializer(job, context={"request": request}).data)


class BatchJobResultsApi(APIView):
    content_negotiation_class = CSVOrJSONError

    @extend_schema(
        responses={
            (200, "text/csv"): CSV,
            **_NOT_FOUND,
            **COMMON,
            409: error("The job has not finished"),
        },
        summary="Decisions as CSV: ID_CLIENT,probability_bad,score,decision,reasons (file order)",
    )
    def get(self, request: Request, job_id: str) -> Any:
        job = _visible_job(request, job_id)
        if job.status not in (BatchJob.Status.DONE, BatchJob.Status.CANCELLED):
            detail = f"the job is {job.status}" + (f": {job.error}" if job.error else "; results come when it is done")
            return Response({"detail": detail}, status=status.HTTP_409_CONFLICT)
        return csv_response(f"{job.pk}-results.csv", RESULT_CSV_HEADER, batch_result_rows(job=job))


class BatchJobErrorsApi(APIView):
    content_negotiation_class = CSVOrJSONError

    @extend_schema(
        responses={(200, "text/csv"): CSV, **_NOT_FOUND, **COMMON},
        summary="Rows that could not be scored, as CSV: line,column,problem",
    )
    def get(self, request: Request, job_id: str) -> Any:
        job = _visible_job(request, job_id)
        return csv_response(f"{job.pk}-errors.csv", ERROR_CSV_HEADER, batch_error_rows(job=job))

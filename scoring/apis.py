"""REST API: one view per operation; each parses, calls a service or selector, serialises."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.lookups import VERSION_PATTERN, visible_or_404
from api.pagination import page_serializer, paginated_response
from api.parsers import JSONParser
from api.responses import COMMON, INVALID, NO_PAGE, RETRY_AFTER, UNAVAILABLE, UNSUPPORTED, error, not_found
from ml.scorecard import APPROVE, DECLINE
from scoring.model_registry import NoActiveModelError
from scoring.models import ModelVersion, ScoreRequest
from scoring.selectors import model_version_list, score_request_list
from scoring.serializers import ApplicantInputSerializer
from scoring.services.score_requests import missing_inputs, score_request_create, score_request_replay
from scoring.services.waiting import score_request_wait_final

_NOT_FOUND = not_found("request")


class ReasonSerializer(serializers.Serializer):
    column = serializers.CharField(help_text="The input (for a group, its first input)")
    text = serializers.CharField(help_text="What the applicant can be told")
    value = serializers.JSONField(allow_null=True, help_text="The applicant's value (null: not given)")
    reference = serializers.JSONField(allow_null=True, help_text="The reference (approved) applicant's value")
    impact = serializers.FloatField(
        help_text="Drop in the probability of default if the input(s) took the reference value"
    )
    columns = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Every input the reason is about"
    )
    group = serializers.CharField(
        allow_null=True,
        required=False,
        help_text="home_address, cards... ; combined: inputs that only together lower the risk",
    )


class ScoreRequestOutputSerializer(serializers.Serializer):
    """A score request as the API shows it. Fields declared by hand, not a ModelSerializer: building a
    ModelSerializer's fields from the model on every answer cost a twentieth of a request's CPU."""

    id = serializers.UUIDField(read_only=True)
    external_id = serializers.IntegerField(allow_null=True, read_only=True, help_text="ID_CLIENT as sent")
    status = serializers.ChoiceField(choices=ScoreRequest.Status.choices, read_only=True)
    channel = serializers.ChoiceField(choices=ScoreRequest.Channel.choices, read_only=True)
    probability_bad = serializers.FloatField(allow_null=True, read_only=True)
    score = serializers.IntegerField(allow_null=True, read_only=True)
    decision = serializers.CharField(read_only=True)
    reasons = ReasonSerializer(many=True, read_only=True)
    missing_inputs = serializers.SerializerMethodField(
        help_text="Inputs the model uses that were not sent (or sent as null): scored as missing, and a reason "
        "about one says it was not given"
    )
    model_version = serializers.CharField(source="model_version.version", allow_null=True, read_only=True)
    threshold = serializers.FloatField(allow_null=True, read_only=True)
    error = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    finished_at = serializers.DateTimeField(allow_null=True, read_only=True)

    def get_missing_inputs(self, request: ScoreRequest) -> list[str]:
        return missing_inputs(inputs=request.input_snapshot, model_version=request.model_version)


def _flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name)
    if value is None:
        return False
    if value.lower() not in ("true", "false"):
        raise ValidationError({name: ["Must be true or false."]})
    return value.lower() == "true"


ScoreRequestPageSerializer = page_serializer(ScoreRequestOutputSerializer, name="ScoreRequestPage")


class ScoreRequestCreateApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        request=ApplicantInputSerializer,
        parameters=[OpenApiParameter("async", bool, description="Answer 202 at once with the id to poll"), RETRY_AFTER],
        responses={
            201: ScoreRequestOutputSerializer,
            202: ScoreRequestOutputSerializer,
            400: INVALID,
            **COMMON,
            **UNAVAILABLE,
            **UNSUPPORTED,
        },
        summary="Score one applicant",
    )
    def post(self, request: Request) -> Response:
        serializer = ApplicantInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        asynchronous = _flag(request, "async")  # before anything is stored: a bad value is a 400 with no row
        # Redis unreachable: QueueUnavailableError, answered 503 by scoring.exceptions.api_exception_handler.
        created = score_request_create(
            inputs=serializer.validated_data,
            requested_by=request.user,
            channel=ScoreRequest.Channel.API,
            listen=not asynchronous,
        )
        final = (
            None
            if asynchronous
            else score_request_wait_final(score_request_id=created.pk, timeout=settings.CREDITRISK_SCORE_WAIT_SECONDS)
        )
        if final is None:
            return Response(ScoreRequestOutputSerializer(created).data, status=status.HTTP_202_ACCEPTED)
        return Response(ScoreRequestOutputSerializer(final).data, status=status.HTTP_201_CREATED)


class ScoreRequestListApi(APIView):
    class FilterSerializer(serializers.Serializer):
        decision = serializers.ChoiceField(choices=[APPROVE, DECLINE], required=False)
        model_version = serializers.RegexField(VERSION_PATTERN, max_length=40, required=False)
        status = serializers.ChoiceField(choices=ScoreRequest.Status.choices, required=False)
        created_after = serializers.DateTimeField(required=False)
        created_before = serializers.DateTimeField(required=False)
        page = serializers.IntegerField(required=False, min_value=1)
        page_size = serializers.IntegerField(required=False, min_value=1, max_value=500)

    @extend_schema(
        parameters=[FilterSerializer],
        summary="List score requests",
        operation_id="v1_score_requests_list",
        responses={200: ScoreRequestPageSerializer, 400: INVALID, 404: NO_PAGE, **COMMON},
    )
    def get(self, request: Request) -> Response:
        # A plain dict: DRF would quietly skip an empty value of a QueryDict ("?status=").
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        params = {k: v for k, v in filters.validated_data.items() if k not in ("page", "page_size")}
        queryset = score_request_list(user=request.user, **params)
        return paginated_response(
            queryset=queryset, serializer_class=ScoreRequestOutputSerializer, request=request, view=self
        )


def _visible_request(request: Request, request_id: str) -> ScoreRequest:
    return visible_or_404(score_request_list(user=request.user), request_id, "score request")


class ScoreRequestDetailApi(APIView):
    @extend_schema(responses={200: ScoreRequestOutputSerializer, **_NOT_FOUND, **COMMON}, summary="One score request")
    def get(self, request: Request, request_id: Any) -> Response:
        return Response(ScoreRequestOutputSerializer(_visible_request(request, request_id)).data)


class ScoreRequestReplayApi(APIView):
    # JSON only, as creation: a form body would let DRF read "model_version=" as no version at all.
    parser_classes = [JSONParser]

    class InputSerializer(serializers.Serializer):
        model_version = serializers.RegexField(
            VERSION_PATTERN, max_length=40, required=False, help_text="Default: the active version"
        )

    @extend_schema(
        request=InputSerializer,
        responses={
            200: inline_serializer(
                "Replay",
                {
                    "original": ScoreRequestOutputSerializer(),
                    "replay": inline_serializer(
                        "ReplayResult",
                        {
                            "probability_bad": serializers.FloatField(),
                            "score": serializers.IntegerField(),
                            "decision": serializers.CharField(),
                            "reasons": ReasonSerializer(many=True),
                            "missing_inputs": serializers.ListField(child=serializers.CharField()),
                            "model_version": serializers.CharField(),
                            "threshold": serializers.FloatField(),
                        },
                    ),
                    "decision_changed": serializers.BooleanField(),
                },
            ),
            400: INVALID,
            409: error("No model version is active"),
            **_NOT_FOUND,
            **COMMON,
            **UNSUPPORTED,
        },
        summary="Re-score the stored input; the original record is not touched",
    )
    def post(self, request: Request, request_id: Any) -> Response:
        original = _visible_request(request, request_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = None
        if "model_version" in data.validated_data:
            version = get_object_or_404(ModelVersion, version=data.validated_data["model_version"])
        try:
            replay = score_request_replay(score_request=original, model_version=version)
        except NoActiveModelError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(
            {
                "original": ScoreRequestOutputSerializer(original).data,
                "replay": replay.as_dict(),
                "decision_changed": replay.decision != original.decision,
            }
        )


class ModelVersionOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = [
            "version",
            "algorithm",
            "is_active",
            "is_challenger",
            "threshold",
            "threshold_choice",
            "cv_metrics",
            "holdout_metrics",
            "refit",
            "features",
            "excluded_features",
            "artifact_sha256",
            "data_sha256",
            "created_at",
            "activated_at",
            "challenger_since",
        ]
        read_only_fields = fields  # output only: every field is always in the answer (required in the schema)


class ModelVersionListApi(APIView):
    @extend_schema(
        responses={200: ModelVersionOutputSerializer(many=True), **COMMON},
        summary="Model versions, the active (champion) and the challenger marked",
    )
    def get(self, request: Request) -> Response:
        return Response(ModelVersionOutputSerializer(model_version_list(), many=True).data)


class ScoreRequestListCreateApi(ScoreRequestCreateApi, ScoreRequestListApi):
    """``/score-requests/``: POST creates (``ScoreRequestCreateApi``), GET lists (``ScoreRequestListApi``)."""

"""REST API of champion and challenger: the shadow scores of one's decisions, and the comparison (staff)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.lookups import VERSION_PATTERN
from api.pagination import page_serializer, paginated_response
from api.responses import COMMON, INVALID, NO_PAGE, error
from scoring.models import ModelVersion, ShadowScore
from scoring.selectors import shadow_score_list
from scoring.services.challenger_comparison import NoComparisonError, challenger_comparison

_STAFF_ONLY = {403: error("Staff only: the comparison covers every client's decisions")}


CLIENT_ERROR = "the challenger could not score this decision (the champion's decision stands)"


class ShadowScoreOutputSerializer(serializers.Serializer):
    """A challenger's shadow score of one live decision, beside the champion's decision (which is the decision)."""

    id = serializers.IntegerField(read_only=True)
    kind = serializers.SerializerMethodField(help_text="single: a score request; bulk: a line of a bulk job")
    score_request = serializers.UUIDField(source="score_request_id", allow_null=True, read_only=True)
    batch = serializers.UUIDField(source="job_id", allow_null=True, read_only=True)
    line = serializers.IntegerField(allow_null=True, read_only=True, help_text="Line of the bulk file")
    external_id = serializers.IntegerField(allow_null=True, read_only=True, help_text="ID_CLIENT as sent")
    champion_model_version = serializers.CharField(source="champion.version", read_only=True)
    champion_probability_bad = serializers.FloatField(source="champion_probability", allow_null=True, read_only=True)
    champion_score = serializers.IntegerField(allow_null=True, read_only=True)
    champion_decision = serializers.CharField(read_only=True, help_text="The decision made and returned")
    challenger_model_version = serializers.CharField(source="challenger.version", read_only=True)
    challenger_probability_bad = serializers.FloatField(source="probability_bad", allow_null=True, read_only=True)
    challenger_score = serializers.IntegerField(source="score", allow_null=True, read_only=True)
    challenger_decision = serializers.CharField(
        source="decision",
        read_only=True,
        help_text="What the challenger would have decided at its own cut-off; never the decision. Empty when it failed",
    )
    challenger_threshold = serializers.FloatField(source="threshold", allow_null=True, read_only=True)
    decisions_agree = serializers.SerializerMethodField(help_text="null when the challenger failed")
    error = serializers.SerializerMethodField(
        help_text="Why the challenger could not score (staff see the detail; clients a plain sentence); empty "
        "when it did"
    )
    decisions = serializers.IntegerField(
        read_only=True,
        help_text="Decisions this row stands for: 1, or a bulk chunk's rows when the challenger "
        "failed on the whole chunk",
    )
    created_at = serializers.DateTimeField(read_only=True)

    @extend_schema_field(serializers.ChoiceField(choices=["single", "bulk"]))
    def get_kind(self, shadow: ShadowScore) -> str:
        return "single" if shadow.score_request_id else "bulk"

    def get_error(self, shadow: ShadowScore) -> str:
        # The detail names files and checksums of the server: for its operators, not for a client.
        request = self.context.get("request")
        if not shadow.error or (request is not None and request.user.is_staff):
            return shadow.error
        return CLIENT_ERROR

    @extend_schema_field(serializers.BooleanField(allow_null=True))
    def get_decisions_agree(self, shadow: ShadowScore) -> bool | None:
        return None if shadow.error else shadow.decision == shadow.champion_decision


ShadowScorePageSerializer = page_serializer(ShadowScoreOutputSerializer, name="ShadowScorePage")


class ShadowScoreListApi(APIView):
    class FilterSerializer(serializers.Serializer):
        challenger = serializers.RegexField(
            VERSION_PATTERN, max_length=40, required=False, help_text="The challenger's model version"
        )
        score_request = serializers.UUIDField(required=False, help_text="The shadow of this score request")
        batch = serializers.UUIDField(required=False, help_text="The shadow of this bulk job's decisions")
        kind = serializers.ChoiceField(
            choices=["single", "bulk"], required=False, help_text="single: score requests; bulk: lines of bulk jobs"
        )
        agreement = serializers.ChoiceField(choices=["agree", "disagree", "failed"], required=False)
        created_after = serializers.DateTimeField(required=False)
        created_before = serializers.DateTimeField(required=False)
        page = serializers.IntegerField(required=False, min_value=1)
        page_size = serializers.IntegerField(required=False, min_value=1, max_value=500)

    @extend_schema(
        parameters=[FilterSerializer],
        operation_id="v1_shadow_scores_list",
        summary="Shadow scores of the challenger (your decisions; staff: everyone's)",
        responses={200: ShadowScorePageSerializer, 400: INVALID, 404: NO_PAGE, **COMMON},
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        params = {k: v for k, v in filters.validated_data.items() if k not in ("page", "page_size")}
        queryset = shadow_score_list(user=request.user, **params)
        return paginated_response(
            queryset=queryset,
            serializer_class=ShadowScoreOutputSerializer,
            request=request,
            view=self,
            context={"request": request},
        )


# -- the comparison ----------------------------------------------------------------------------------


class ComparisonCellSerializer(serializers.Serializer):
    champion_decision = serializers.CharField()
    challenger_decision = serializers.CharField()
    decisions = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True)


class SwapSetSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    decisions = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True, help_text="Of every decision compared")
    champion_mean_probability = serializers.FloatField(allow_null=True)
    challenger_mean_probability = serializers.FloatField(allow_null=True)


class ShiftBandSerializer(serializers.Serializer):
    # The metaclass moves declared fields to _declared_fields: an instance's own label stays Field.label.
    label = serializers.CharField()  # type: ignore[assignment]
    low = serializers.IntegerField(allow_null=True)
    high = serializers.IntegerField(allow_null=True)
    decisions = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True)


class ScoreShiftSerializer(serializers.Serializer):
    champion_mean_points = serializers.FloatField(allow_null=True)
    challenger_mean_points = serializers.FloatField(allow_null=True)
    mean = serializers.FloatField(allow_null=True, help_text="Challenger's points minus the champion's (higher: safer)")
    quantiles = serializers.DictField(child=serializers.IntegerField(), help_text="p5, p25, p50, p75, p95 of the shift")
    share_moved_20 = serializers.FloatField(allow_null=True, help_text="Share whose points moved by 20 or more")
    bands = ShiftBandSerializer(many=True)


class ComparisonBinSerializer(serializers.Serializer):
    low = serializers.IntegerField()
    high = serializers.IntegerField()
    champion = serializers.IntegerField()
    challenger = serializers.IntegerField()


class DecisionComparisonSerializer(serializers.Serializer):
    decisions = serializers.IntegerField(help_text="Decisions both scored")
    agreement_rate = serializers.FloatField(allow_null=True)
    cells = ComparisonCellSerializer(many=True)
    champion_approval_rate = serializers.FloatField(allow_null=True)
    challenger_approval_rate = serializers.FloatField(allow_null=True)
    champion_mean_probability = serializers.FloatField(allow_null=True)
    challenger_mean_probability = serializers.FloatField(allow_null=True)
    swap_in = SwapSetSerializer()
    swap_out = SwapSetSerializer()
    shift = ScoreShiftSerializer()
    histogram = ComparisonBinSerializer(many=True)


class ChallengerFailureSerializer(serializers.Serializer):
    error = serializers.CharField()
    decisions = serializers.IntegerField()


class OtherChampionSerializer(serializers.Serializer):
    version = serializers.CharField()
    decisions = serializers.IntegerField()


class ChallengerComparisonSerializer(serializers.Serializer):
    challenger = serializers.CharField()
    champion = serializers.CharField()
    challenger_threshold = serializers.FloatField()
    champion_threshold = serializers.FloatField()
    since = serializers.DateTimeField(allow_null=True)
    until = serializers.DateTimeField(allow_null=True)
    single = serializers.IntegerField(help_text="Single decisions the challenger scored")
    bulk = serializers.IntegerField(help_text="Bulk decisions the challenger scored")
    failed = serializers.IntegerField(help_text="Decisions the challenger could not score (left out)")
    failures = ChallengerFailureSerializer(many=True, help_text="The most frequent errors")
    comparison = DecisionComparisonSerializer()
    realised = serializers.JSONField(
        allow_null=True,
        help_text="Realised performance of both on the decisions with an outcome; null while no outcomes are recorded",
    )
    other_champions = OtherChampionSerializer(many=True)
    notes = serializers.ListField(child=serializers.CharField())


class ChallengerComparisonApi(APIView):
    class FilterSerializer(serializers.Serializer):
        challenger = serializers.RegexField(
            VERSION_PATTERN,
            max_length=40,
            required=False,
            help_text="Default: the challenger now, else the last one that scored",
        )
        champion = serializers.RegexField(
            VERSION_PATTERN,
            max_length=40,
            required=False,
            help_text="Default: the champion of the challenger's latest shadow score",
        )
        since = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)

        def validate(self, attrs: dict) -> dict:
            if "since" in attrs and "until" in attrs and attrs["since"] >= attrs["until"]:
                raise serializers.ValidationError({"until": ["Must be later than since."]})
            return attrs

    @extend_schema(
        parameters=[FilterSerializer],
        summary="Compare the challenger with the champion (staff only)",
        responses={
            200: ChallengerComparisonSerializer,
            400: INVALID,
            **_STAFF_ONLY,
            404: error("No such model version"),
            409: error("No challenger to compare"),
            **COMMON,
        },
    )
    def get(self, request: Request) -> Response:
        if not request.user.is_staff:
            raise PermissionDenied("Only staff may see the comparison: it covers every client's decisions.")
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        values = filters.validated_data
        versions = {}
        for role in ("challenger", "champion"):
            if role in values:
                versions[role] = ModelVersion.objects.filter(version=values[role]).first()
                if versions[role] is None:
                    return Response({"detail": f"No model version {values[role]}."}, status=404)
        try:
            report = challenger_comparison(since=values.get("since"), until=values.get("until"), **versions)
        except NoComparisonError as exc:
            return Response({"detail": str(exc)}, status=409)
        return Response(ChallengerComparisonSerializer(report.as_dict()).data)

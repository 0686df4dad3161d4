"""REST endpoints for pipelines, their revisions and runs: thin over the domain."""

from __future__ import annotations

import functools
import json

from django.db.models import Prefetch, prefetch_related_objects
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from environments import access
from environments.models import Service
from pipelines import actions
from pipelines.access import log_environments, reason_in_sight
from pipelines.models import Approval, Pipeline, PipelineRevision, PipelineRun, StageRun
from portal.api.base import RestrictedReadOnlyViewSet
from portal.api.fields import RestrictedSlugRelatedField
from portal.api.serializers import FieldsBuiltOnceModelSerializer
from portal.core.numbers import MAX_ID, parse_whole


class RevisionSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    diff = serializers.SerializerMethodField()

    class Meta:
        model = PipelineRevision
        fields = [
            "id",
            "revision",
            "text",
            "document",
            "comment",
            "created_by",
            "created_at",
            "diff",
        ]
        read_only_fields = fields

    def get_diff(self, revision) -> str:
        diffs = self.context.get("diffs")
        if diffs is not None:
            return diffs[revision.pk]
        previous = (
            revision.pipeline.revisions.filter(revision__lt=revision.revision)
            .order_by("-revision")
            .first()
        )
        return actions.diff_revisions(previous, revision)


class PipelineSerializer(serializers.ModelSerializer):
    service = serializers.SlugRelatedField(slug_field="name", read_only=True)
    environment = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    revision = serializers.SerializerMethodField()
    text = serializers.SerializerMethodField()
    webhook_secret_set_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = Pipeline
        fields = [
            "id", "service", "name", "environment", "revision", "text", "webhook_secret_set_at",
            "created_by", "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_revision(self, pipeline) -> int | None:
        current = _current_revision(pipeline)
        return current.revision if current else None

    def get_text(self, pipeline) -> str:
        current = _current_revision(pipeline)
        return current.text if current else ""


LATEST_REVISION = Prefetch(
    "revisions",
    queryset=PipelineRevision.objects.order_by("-revision")[:1],
    to_attr="latest_revisions",
)


def _current_revision(pipeline: Pipeline) -> PipelineRevision | None:
    """The current revision, from :data:`LATEST_REVISION` when the row was fetched with it."""
    latest = getattr(pipeline, "latest_revisions", None)
    if latest is None:
        return pipeline.current_revision()
    return latest[0] if latest else None


class CreatePipelineSerializer(serializers.Serializer):
    service = RestrictedSlugRelatedField(slug_field="name", queryset=Service.objects.all())
    name = serializers.SlugField(max_length=63)
    text = serializers.CharField(
        max_length=65536, trim_whitespace=False, help_text="The YAML definition."
    )
    comment = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class CreatedPipelineSerializer(PipelineSerializer):
    webhook_secret = serializers.CharField(read_only=True, help_text="Shown this once.")

    class Meta(PipelineSerializer.Meta):
        fields = [*PipelineSerializer.Meta.fields, "webhook_secret"]
        read_only_fields = fields


class SaveRevisionSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=65536, trim_whitespace=False)
    comment = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class StartRunSerializer(serializers.Serializer):
    digest = serializers.CharField(max_length=71, required=False, allow_blank=True, default="")
    ref = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class ApprovalSerializer(FieldsBuiltOnceModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Approval
        fields = ["user", "approved", "note", "digest", "test_results", "at", "expires_at"]
        read_only_fields = fields


class StageRunSerializer(FieldsBuiltOnceModelSerializer):
    environment = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    approvals = ApprovalSerializer(many=True, read_only=True)
    duration = serializers.FloatField(read_only=True, allow_null=True)
    log = serializers.SerializerMethodField()

    class Meta:
        model = StageRun
        fields = [
            "id", "step", "name", "kind", "environment", "status", "reason", "results", "actor",
            "attempt", "plan", "started_at", "finished_at", "duration", "approvals", "log",
        ]  # fmt: skip
        read_only_fields = fields

    def get_log(self, stage) -> str:
        """The log on a single run's page, where the reader may read logs (``view_logs``)."""
        return stage.log if stage.environment_id in self.context.get("log_environments", ()) else ""


STAGES_PREFETCH = Prefetch(
    "stages",
    queryset=StageRun.objects.select_related("environment", "actor")
    .prefetch_related("approvals__user")
    .order_by("step", "id"),
)


def _stages_of(run) -> list[StageRun]:
    """The run's stages in order, from the list's prefetch when there is one."""
    if "stages" in getattr(run, "_prefetched_objects_cache", {}):
        return list(run.stages.all())
    prefetch_related_objects([run], STAGES_PREFETCH)
    return list(run.stages.all())


class PipelineRunSerializer(FieldsBuiltOnceModelSerializer):
    pipeline = serializers.PrimaryKeyRelatedField(read_only=True)
    pipeline_name = serializers.CharField(source="pipeline.name", read_only=True)
    service = serializers.CharField(source="pipeline.service.name", read_only=True)
    revision = serializers.IntegerField(source="revision.revision", read_only=True)
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    stages = serializers.SerializerMethodField()
    reason = serializers.SerializerMethodField()

    class Meta:
        model = PipelineRun
        fields = [
            "id", "pipeline", "pipeline_name", "service", "revision", "status", "reason", "digest",
            "trigger", "actor", "rerun_of", "created_at", "started_at", "finished_at", "stages",
        ]  # fmt: skip
        read_only_fields = fields

    @functools.cached_property
    def _stage_serializer(self) -> serializers.ListSerializer:
        """One serializer for the stages of every run this one shows (a list shows up to
        a page of runs through one child): building one per run, or per stage, cost more
        than the rows (100 runs: 85 ms a page, 35 of them building serializers)."""
        return StageRunSerializer(many=True, context=self.context)

    def get_reason(self, run) -> str:
        visible = self.context.get("visible_environments")
        if visible is None or not run.reason:
            return run.reason
        hidden = {s.name for s in _stages_of(run) if s.environment_id not in visible}
        return reason_in_sight(run.reason, hidden)

    def get_stages(self, run) -> list[dict]:
        # A stage in an environment the reader cannot view shows its name and status only.
        visible = self.context.get("visible_environments")
        stages = _stages_of(run)
        out = self._stage_serializer.to_representation(stages)
        return [
            {key: data[key] for key in ("id", "step", "name", "kind", "status")}
            if visible is not None and stage.environment_id not in visible
            else data
            for stage, data in zip(stages, out, strict=True)
        ]


class DecisionSerializer(serializers.Serializer):
    stage = serializers.CharField(max_length=63)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class RetrySerializer(serializers.Serializer):
    stage = serializers.CharField(max_length=63)


class PipelineViewSet(mixins.CreateModelMixin, RestrictedReadOnlyViewSet):
    """Pipelines of the services you can see (home environment visible). POST creates
    one with its first revision and answers its webhook secret, once."""

    queryset = Pipeline.objects.select_related(
        "service", "environment", "created_by"
    ).prefetch_related(LATEST_REVISION)
    serializer_class = PipelineSerializer

    @extend_schema(request=CreatePipelineSerializer, responses={201: CreatedPipelineSerializer})
    def create(self, request, *args, **kwargs):
        data = self.validated(CreatePipelineSerializer, request.data)
        pipeline, secret = actions.create_pipeline(
            request.user, data["service"], data["name"], data["text"], data["comment"]
        )
        body = PipelineSerializer(self._recheck(pipeline)).data | {"webhook_secret": secret}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(methods=["GET"], request=None, responses={200: RevisionSerializer(many=True)})
    @extend_schema(
        methods=["POST"], request=SaveRevisionSerializer, responses={201: RevisionSerializer}
    )
    @action(detail=True, methods=["get", "post"])
    def revisions(self, request, pk=None):
        """GET: the revisions, newest first (paged like every list), each with its diff
        against the one before; POST: a new one."""
        pipeline = self.get_object()
        if request.method == "GET":
            newest = pipeline.revisions.select_related("created_by").order_by("-revision")
            page = list(self.paginate_queryset(newest))
            diffs = {revision.pk: diff for revision, diff in actions.with_diffs(pipeline, page)}
            return self.get_paginated_response(
                RevisionSerializer(page, many=True, context={"diffs": diffs}).data
            )
        data = self.validated(SaveRevisionSerializer, request.data)
        revision = actions.save_revision(request.user, pipeline, data["text"], data["comment"])
        return Response(RevisionSerializer(revision).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=StartRunSerializer, responses={202: PipelineRunSerializer})
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        """Start a run of the current revision (follow ``/ws/pipeline-runs/<id>/``)."""
        pipeline = self.get_object()
        data = self.validated(StartRunSerializer, request.data)
        run = actions.start_run(pipeline, user=request.user, digest=data["digest"], ref=data["ref"])
        return Response(PipelineRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer("WebhookSecret", {"webhook_secret": serializers.CharField()})
        },
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        """A new webhook secret, shown this once; the old one stops working."""
        pipeline = self.get_object()
        return Response({"webhook_secret": actions.rotate_webhook_secret(request.user, pipeline)})

    @extend_schema(
        request=StartRunSerializer,
        responses={202: PipelineRunSerializer, 401: OpenApiResponse(description="bad signature")},
        description=(
            "A CI trigger. Headers: X-Berth-Timestamp (Unix seconds) and X-Berth-Signature "
            "(sha256=<hex HMAC-SHA256 of timestamp + '.' + body with the pipeline's secret>). "
            "Older than five minutes, replayed or badly signed: 401, nothing recorded."
        ),
    )
    @action(detail=True, methods=["post"], permission_classes=[AllowAny], authentication_classes=[])
    def webhook(self, request, pk=None):
        try:
            payload = json.loads(request.body or b"{}")
        except (ValueError, RecursionError):
            payload = None
        try:
            run = actions.trigger_webhook(
                pk, request.headers.get("X-Berth-Timestamp", ""),
                request.headers.get("X-Berth-Signature", ""), request.body, payload,
            )  # fmt: skip
        except actions.WebhookRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_401_UNAUTHORIZED)
        return Response({"id": run.pk, "status": run.status}, status=status.HTTP_202_ACCEPTED)


class PipelineRunViewSet(RestrictedReadOnlyViewSet):
    """Runs of the pipelines you can see. ``approve`` / ``reject`` decide a waiting
    approval or confirmation; ``cancel``, ``retry`` (a failed stage, same plan and
    digest) and ``rerun`` need ``deploy_to_environment`` where the pipeline starts."""

    queryset = PipelineRun.objects.select_related(
        "pipeline__service", "revision", "actor"
    ).prefetch_related(STAGES_PREFETCH)
    serializer_class = PipelineRunSerializer

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action != "list":
            return queryset
        pipeline = self.request.query_params.get("pipeline")
        if pipeline:
            number = parse_whole(pipeline)
            if number is None or number > MAX_ID:
                raise serializers.ValidationError({"pipeline": "A pipeline id."})
            queryset = queryset.filter(pipeline=number)
        status_ = self.request.query_params.get("status")
        if status_:
            if status_ not in PipelineRun.Status.values:
                raise serializers.ValidationError(
                    {"status": f"Use one of {', '.join(PipelineRun.Status.values)}."}
                )
            queryset = queryset.filter(status=status_)
        return queryset

    def get_serializer_context(self):
        visible = set(access.visible_environments(self.request.user).values_list("pk", flat=True))
        logs = log_environments(self.request.user) if self.action == "retrieve" else set()
        return super().get_serializer_context() | {
            "log_environments": logs,
            "visible_environments": visible,
        }

    def _answer(self, run, code=status.HTTP_200_OK):
        run = self._recheck(run)  # as the user sees it now, stages and approvals prefetched
        return Response(
            PipelineRunSerializer(run, context=self.get_serializer_context()).data, status=code
        )

    @extend_schema(request=DecisionSerializer, responses={200: PipelineRunSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        run = self.get_object()
        data = self.validated(DecisionSerializer, request.data)
        actions.decide(run, data["stage"], user=request.user, approved=True, note=data["note"])
        return self._answer(run)

    @extend_schema(request=DecisionSerializer, responses={200: PipelineRunSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        run = self.get_object()
        data = self.validated(DecisionSerializer, request.data)
        actions.decide(run, data["stage"], user=request.user, approved=False, note=data["note"])
        return self._answer(run)

    @extend_schema(request=None, responses={200: PipelineRunSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        run = self.get_object()
        actions.cancel_run(run, user=request.user)
        return self._answer(run)

    @extend_schema(request=RetrySerializer, responses={202: PipelineRunSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        run = self.get_object()
        data = self.validated(RetrySerializer, request.data)
        actions.retry_stage(run, data["stage"], user=request.user)
        return self._answer(run, status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: PipelineRunSerializer})
    @action(detail=True, methods=["post"])
    def rerun(self, request, pk=None):
        run = self.get_object()
        new = actions.rerun(run, user=request.user)
        return self._answer(new, status.HTTP_202_ACCEPTED)

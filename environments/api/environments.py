"""REST endpoints for environments and role grants: thin over the domain functions."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, mixins, renderers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from environments import access, actions, engine
from environments.api.serializers import (
    ContainerSerializer,
    EndpointStateSerializer,
    EnvironmentSerializer,
    RoleGrantSerializer,
)
from environments.live.download import log_response, parse_download_range
from environments.models import Environment, RoleGrant
from environments.roles import MANAGE
from portal.api.base import RestrictedModelViewSet
from portal.api.params import query_id

# Docker's container references: an id, an id prefix or a name.
CONTAINER = r"containers/(?P<container_id>[A-Za-z0-9][A-Za-z0-9_.-]*)"


class ConfirmSerializer(serializers.Serializer):
    confirm = serializers.BooleanField(
        default=False, help_text="Required in protected environments."
    )


ContainerStateSerializer = inline_serializer(
    "ContainerState",
    {
        "id": serializers.CharField(),
        "name": serializers.CharField(),
        "state": serializers.CharField(),
    },
)


class PlainTextRenderer(renderers.BaseRenderer):
    """Lets ``Accept: text/plain`` reach the log download; errors become their text."""

    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, dict) and "detail" in data:
            data = data["detail"]
        return str(data).encode()


class EnvironmentViewSet(RestrictedModelViewSet):
    """Environments the user can view. Creating needs admin rights, changing needs
    ``manage_environment``, deleting needs both."""

    queryset = Environment.objects.all()
    serializer_class = EnvironmentSerializer

    def get_object(self):
        environment = super().get_object()
        if self.action in ("update", "partial_update", "destroy"):
            # Checked before the body is validated, so a viewer learns nothing from errors.
            access.require(self.request.user, environment, MANAGE)
        return environment

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        # One permission query for the page instead of one per environment.
        context = self.get_serializer_context() | {
            "actions_by_environment": access.actions_by_environment(request.user, page)
        }
        serializer = self.get_serializer_class()(page, many=True, context=context)
        return self.get_paginated_response(serializer.data)

    def create_object(self, user, data: dict) -> Environment:
        return actions.create_environment(user, **data)

    def update_object(self, user, instance: Environment, data: dict) -> Environment:
        return actions.update_environment(user, instance, **data)

    def perform_destroy(self, instance):
        actions.delete_environment(self.request.user, instance)

    @extend_schema(responses={200: ContainerSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None)
    def containers(self, request, pk=None):
        """Containers on this environment's endpoint (read-only)."""
        environment = self.get_object()
        rows = [c.as_dict() for c in engine.list_containers(environment)]
        return Response(ContainerSerializer(rows, many=True).data)

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"], url_path=CONTAINER, url_name="container")
    def container(self, request, pk=None, container_id=None):
        """Docker's inspect document of one container, secret environment values masked."""
        environment = self.get_object()
        return Response(actions.inspect_container(request.user, environment, container_id))

    @extend_schema(request=ConfirmSerializer, responses={200: ContainerStateSerializer})
    @action(
        detail=True,
        methods=["post"],
        url_path=CONTAINER + "/restart",
        url_name="container-restart",
    )
    def container_restart(self, request, pk=None, container_id=None):
        """Restart a container (needs deploy_to_environment and, in a protected
        environment, confirm=true; audited)."""
        environment = self.get_object()
        confirm = self.validated(ConfirmSerializer, request.data)["confirm"]
        return Response(
            actions.restart_container(request.user, environment, container_id, confirm=confirm)
        )

    @extend_schema(request=ConfirmSerializer, responses={200: ContainerStateSerializer})
    @action(detail=True, methods=["post"], url_path=CONTAINER + "/stop", url_name="container-stop")
    def container_stop(self, request, pk=None, container_id=None):
        """Stop a container (needs deploy_to_environment and, in a protected environment,
        confirm=true; audited)."""
        environment = self.get_object()
        confirm = self.validated(ConfirmSerializer, request.data)["confirm"]
        return Response(
            actions.stop_container(request.user, environment, container_id, confirm=confirm)
        )

    @extend_schema(request=None, responses={200: ContainerStateSerializer})
    @action(
        detail=True, methods=["post"], url_path=CONTAINER + "/start", url_name="container-start"
    )
    def container_start(self, request, pk=None, container_id=None):
        """Start a stopped container (needs deploy_to_environment; audited)."""
        environment = self.get_object()
        return Response(actions.start_container(request.user, environment, container_id))

    @extend_schema(
        parameters=[
            OpenApiParameter("since", str, description="From this time (RFC 3339 or unix s)."),
            OpenApiParameter("until", str, description="Up to this time, included."),
            OpenApiParameter("tail", int, description="Only the last N lines of the range."),
        ],
        responses={(200, "text/plain"): OpenApiTypes.STR},
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=CONTAINER + "/logs",
        url_name="container-logs",
        renderer_classes=[renderers.JSONRenderer, PlainTextRenderer],
    )
    def container_logs(self, request, pk=None, container_id=None) -> StreamingHttpResponse:
        """The container's log as text, both streams merged by time (needs view_logs)."""
        environment = self.get_object()
        try:
            since, until, tail = parse_download_range(request.query_params)
        except ValueError as exc:
            raise exceptions.ValidationError({"detail": str(exc)}) from None
        download = actions.open_container_log(
            request.user, environment, container_id, since=since, until=until, tail=tail
        )
        return log_response(download)

    @extend_schema(responses={200: EndpointStateSerializer})
    @action(detail=True, methods=["get"])
    def endpoint(self, request, pk=None):
        """The endpoint's last known state (unreachable is a state, not an error); a new
        probe is queued when it is older than a few seconds."""
        environment = self.get_object()
        state = (
            actions.request_probe(environment)
            or engine.EndpointState(
                reachable=False, checked_at=None, error="Not checked yet: a probe is on its way."
            ).as_dict()
        )
        return Response(EndpointStateSerializer(state).data)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("environment", int, description="Only grants of this environment."),
        ]
    )
)
class RoleGrantViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Role grants in the environments the user manages."""

    queryset = RoleGrant.objects.all()
    serializer_class = RoleGrantSerializer

    def get_queryset(self):
        managed = Environment.objects.restrict(self.request.user, MANAGE)  # grants: managers
        grants = RoleGrant.objects.filter(environment__in=managed).select_related(
            "environment", "user", "group", "granted_by"
        )
        environment = query_id(self.request, "environment")
        if environment is not None:
            grants = grants.filter(environment_id=environment)
        return grants

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        environment = data["environment"]
        grant = actions.grant_role(
            request.user,
            environment,
            role=data["role"],
            to_user=data.get("user"),
            to_group=data.get("group"),
            actions=data.get("actions"),
        )
        return Response(self.get_serializer(grant).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        actions.revoke_grant(self.request.user, instance)

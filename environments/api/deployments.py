"""REST endpoints for services, their configs and deployments: thin over the domain."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from environments import access, actions
from environments.deploying import config as config_schema
from environments.deploying.traffic import entry_point_state
from environments.lists import DEPLOYMENTS
from environments.models import Deployment, Environment, Service, ServiceConfig
from portal.api.base import RestrictedReadOnlyViewSet
from portal.api.fields import RestrictedSlugRelatedField
from portal.api.params import list_parameters, query_list
from registry.models import Registry


class ServiceSerializer(serializers.ModelSerializer):
    registry = RestrictedSlugRelatedField(
        slug_field="name",
        queryset=Registry.objects.all(),
        required=False,
        help_text="Optional when repository is a full reference with the registry's host.",
    )
    repository = serializers.CharField(
        max_length=512,
        help_text="team/app, or a full reference such as 127.0.0.1:5000/team/app.",
    )
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Service
        fields = ["id", "name", "description", "registry", "repository", "created_by", "created_at"]
        read_only_fields = ["created_by", "created_at"]


class ServiceConfigSerializer(serializers.ModelSerializer):
    environment = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    document = serializers.SerializerMethodField()

    class Meta:
        model = ServiceConfig
        fields = [
            "id",
            "environment",
            "revision",
            "document",
            "comment",
            "created_by",
            "created_at",
        ]

    def get_document(self, revision) -> dict:
        return config_schema.mask_secrets(revision.document)


class SaveConfigSerializer(serializers.Serializer):
    """A new revision, as a JSON ``document`` or as exported ``text`` (JSON or YAML)."""

    environment = RestrictedSlugRelatedField(slug_field="slug", queryset=Environment.objects.all())
    document = serializers.JSONField(
        required=False, help_text="The config; secret values may be sent as ******** to keep them."
    )
    text = serializers.CharField(required=False, help_text="An exported document (see syntax).")
    syntax = serializers.ChoiceField(choices=["json", "yaml"], default="json")
    comment = serializers.CharField(required=False, allow_blank=True, default="")

    def validate(self, attrs):
        if ("document" in attrs) == ("text" in attrs):
            raise serializers.ValidationError("Send either document or text.")
        if "text" in attrs:
            attrs["document"] = config_schema.load(attrs.pop("text"), attrs["syntax"])
        return attrs


class ExportSerializer(serializers.Serializer):
    # Not "format": DRF reserves that query parameter for choosing a renderer.
    environment = RestrictedSlugRelatedField(slug_field="slug", queryset=Environment.objects.all())
    syntax = serializers.ChoiceField(choices=["json", "yaml"], default="json")


class EnvironmentQuerySerializer(serializers.Serializer):
    environment = RestrictedSlugRelatedField(slug_field="slug", queryset=Environment.objects.all())


class CandidateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["environment", "tag", "promoted"])
    name = serializers.CharField()
    digest = serializers.CharField()
    label = serializers.CharField()
    allowed = serializers.BooleanField()
    reason = serializers.CharField(allow_blank=True)


class CandidatesSerializer(serializers.Serializer):
    environment = serializers.CharField()
    protected = serializers.BooleanField()
    problem = serializers.CharField(allow_blank=True)
    candidates = CandidateSerializer(many=True)


class ReplicasSerializer(serializers.Serializer):
    environment = RestrictedSlugRelatedField(slug_field="slug", queryset=Environment.objects.all())
    replicas = serializers.IntegerField(min_value=0, max_value=50, required=False)
    confirm = serializers.BooleanField(default=False)


class DeploymentSerializer(serializers.ModelSerializer):
    service = serializers.SlugRelatedField(slug_field="name", read_only=True)
    environment = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    revision = serializers.IntegerField(source="config.revision", read_only=True)
    events = serializers.SerializerMethodField()

    class Meta:
        model = Deployment
        fields = [
            "id", "service", "environment", "action", "digest", "revision", "strategy", "status",
            "progress",
            "reason", "actor", "rollback_of", "created_at", "started_at", "finished_at", "events",
        ]  # fmt: skip
        read_only_fields = fields

    def get_events(self, deployment) -> list[dict]:
        if not self.context.get("with_events"):
            return []
        return [event.as_message() for event in deployment.events.order_by("seq")]


class DeploySerializer(serializers.Serializer):
    service = RestrictedSlugRelatedField(slug_field="name", queryset=Service.objects.all())
    environment = RestrictedSlugRelatedField(slug_field="slug", queryset=Environment.objects.all())
    digest = serializers.CharField(max_length=71)
    confirm = serializers.BooleanField(
        default=False, help_text="Required for protected environments."
    )


class RollbackSerializer(serializers.Serializer):
    confirm = serializers.BooleanField(
        default=False, help_text="Required for protected environments."
    )


class ServiceViewSet(RestrictedReadOnlyViewSet, mixins.CreateModelMixin):
    """Services. Configs per environment live under ``configs``; scale, restart and stop
    act on one environment and need ``deploy_to_environment`` there."""

    # The create mixin comes last so that the base's perform_create (create_object, then
    # the re-check) is the one used, not the mixin's plain serializer.save().

    queryset = Service.objects.select_related("registry", "created_by")
    serializer_class = ServiceSerializer

    def create_object(self, user, data: dict) -> Service:
        return actions.create_service(user, **data)

    def _environment(self, request) -> dict:
        return self.validated(ReplicasSerializer, request.data)

    @extend_schema(
        methods=["GET"], request=None, responses={200: ServiceConfigSerializer(many=True)}
    )
    @extend_schema(
        methods=["POST"], request=SaveConfigSerializer, responses={201: ServiceConfigSerializer}
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def configs(self, request, pk=None):
        """GET: revisions in the environments you can view (newest first); POST: a new one."""
        service = self.get_object()
        if request.method == "GET":
            visible = access.visible_environments(request.user)
            revisions = service.configs.filter(environment__in=visible).select_related(
                "environment", "created_by"
            )
            return Response(ServiceConfigSerializer(revisions, many=True).data)
        data = self.validated(SaveConfigSerializer, request.data)
        revision = actions.save_config(
            request.user, service, data["environment"], data["document"], data["comment"]
        )
        return Response(ServiceConfigSerializer(revision).data, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[ExportSerializer], responses={200: str})
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        """The current config of one environment as a JSON or YAML file, secrets masked;
        POST it back to ``configs`` as ``text`` to import it."""
        service = self.get_object()
        data = self.validated(ExportSerializer, request.query_params)
        environment, fmt = data["environment"], data["syntax"]
        access.require(request.user, environment, "view_environment")
        revision = service.current_config(environment)
        if revision is None:
            raise serializers.ValidationError(
                {"environment": f"{service} has no config in {environment.name}."}
            )
        filename = f"{service.name}-{environment.slug}.{fmt}"
        return HttpResponse(
            config_schema.dump(revision.document, fmt),
            content_type="application/yaml" if fmt == "yaml" else "application/json",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @extend_schema(parameters=[EnvironmentQuerySerializer], responses={200: dict})
    @action(detail=True, methods=["get"], pagination_class=None)
    def traffic(self, request, pk=None):
        """The service's entry points in one environment: URL, and each backend (replica)
        with its state (ready, drain, maint), weight, the proxy's health check and
        connections. The service page polls it during a deployment."""
        service = self.get_object()
        environment = self.validated(EnvironmentQuerySerializer, request.query_params)[
            "environment"
        ]
        access.require(request.user, environment, "view_environment")
        return Response({"entry_points": entry_point_state(service, environment)})

    @extend_schema(parameters=[EnvironmentQuerySerializer], responses={200: CandidatesSerializer})
    @action(detail=True, methods=["get"])
    def candidates(self, request, pk=None):
        """What may be deployed to ``environment``: what runs in the other environments
        you can see, the tags (read from the registry now) and, for a protected
        environment, what was promoted into it; each with ``allowed`` and the
        ``reason`` when the deploy would be refused."""
        service = self.get_object()
        environment = self.validated(EnvironmentQuerySerializer, request.query_params)[
            "environment"
        ]
        found = actions.deploy_candidates(service, environment, user=request.user)
        return Response(CandidatesSerializer(found).data)

    @extend_schema(request=ReplicasSerializer, responses={202: DeploymentSerializer})
    @action(detail=True, methods=["post"])
    def scale(self, request, pk=None):
        service = self.get_object()  # the URL's object first: 404 before any 400
        data = self._environment(request)
        if "replicas" not in data:
            raise serializers.ValidationError({"replicas": "Give the number of replicas."})
        deployment = actions.scale_service(
            service,
            data["environment"],
            data["replicas"],
            user=request.user,
            confirm=data["confirm"],
        )
        return Response(DeploymentSerializer(deployment).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=ReplicasSerializer, responses={202: DeploymentSerializer})
    @action(detail=True, methods=["post"])
    def restart(self, request, pk=None):
        """Restart what runs (a recorded operation: follow ``/ws/deployments/<id>/``)."""
        service = self.get_object()
        data = self._environment(request)
        operation = actions.restart_service(
            service, data["environment"], user=request.user, confirm=data["confirm"]
        )
        return Response(DeploymentSerializer(operation).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=ReplicasSerializer, responses={202: DeploymentSerializer})
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        """Stop what runs (a recorded operation; on a Swarm the service is scaled to 0)."""
        service = self.get_object()
        data = self._environment(request)
        operation = actions.stop_service(
            service, data["environment"], user=request.user, confirm=data["confirm"]
        )
        return Response(DeploymentSerializer(operation).data, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(list=extend_schema(parameters=list_parameters(DEPLOYMENTS)))
class DeploymentViewSet(mixins.CreateModelMixin, RestrictedReadOnlyViewSet):
    """Deployments in environments you can view. POST deploys (202, then follow
    ``/ws/deployments/<id>/``); 409 names the deployment still active."""

    queryset = Deployment.objects.select_related("service", "environment", "actor", "config")
    serializer_class = DeploymentSerializer

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action != "list":
            return queryset
        return DEPLOYMENTS.apply(queryset, query_list(self.request, DEPLOYMENTS))

    def get_serializer_context(self):
        return super().get_serializer_context() | {"with_events": self.action == "retrieve"}

    @extend_schema(request=DeploySerializer, responses={202: DeploymentSerializer})
    def create(self, request, *args, **kwargs):
        data = self.validated(DeploySerializer, request.data)
        deployment = actions.deploy(
            data["service"],
            data["environment"],
            data["digest"],
            user=request.user,
            confirm=data["confirm"],
        )
        return Response(DeploymentSerializer(deployment).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=RollbackSerializer, responses={202: DeploymentSerializer})
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        """Redeploy the previous successful deployment's digest and config revision."""
        deployment = self.get_object()
        confirm = self.validated(RollbackSerializer, request.data)["confirm"]
        new = actions.rollback(deployment, user=request.user, confirm=confirm)
        return Response(DeploymentSerializer(new).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: DeploymentSerializer})
    @action(detail=True, methods=["post"], url_path="switch-back")
    def switch_back(self, request, pk=None):
        """Blue-green: send the entry points back to the previous colour while it is kept
        (``keep_old_for``); the deployment becomes cancelled. 400 once it is gone."""
        deployment = actions.switch_back(self.get_object(), user=request.user)
        return Response(DeploymentSerializer(deployment).data)

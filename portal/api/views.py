"""API endpoints of the portal app: tokens and the audit log."""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from environments import access
from portal.api.params import list_parameters, query_list
from portal.api.serializers import (
    ApiTokenSerializer,
    AuditEventSerializer,
    NewApiTokenSerializer,
    ObtainTokenSerializer,
)
from portal.core import tokens
from portal.lists import AUDIT
from portal.models import ApiToken, AuditEvent


class LoginThrottle(AnonRateThrottle):
    rate = "20/min"


class ObtainTokenView(APIView):
    """Exchange a username and password for a new API token (shown once)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]

    def get_authenticate_header(self, request) -> str:
        return "Token"  # so a wrong password is a 401, as for any other failed login

    @extend_schema(request=ObtainTokenSerializer, responses={201: NewApiTokenSerializer})
    def post(self, request):
        form = ObtainTokenSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        user = authenticate(
            request,
            username=form.validated_data["username"],
            password=form.validated_data["password"],
        )
        if getattr(request, "axes_locked_out", False):  # set by the login limiter
            raise exceptions.Throttled(
                detail="Too many failed sign-ins for this account or address: try again later."
            )
        if user is None or not user.is_active:
            raise exceptions.AuthenticationFailed("Wrong username or password.")
        token, secret = tokens.create_token(user, form.validated_data["name"])
        data = NewApiTokenSerializer(token).data | {"token": secret}
        return Response(data, status=status.HTTP_201_CREATED)


class ApiTokenViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """The current user's own API tokens: list, create (secret shown once), revoke."""

    serializer_class = ApiTokenSerializer
    queryset = ApiToken.objects.all()

    def get_queryset(self):
        return ApiToken.objects.filter(user=self.request.user)

    @extend_schema(responses={201: NewApiTokenSerializer})
    def create(self, request, *args, **kwargs):
        form = ApiTokenSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        token, secret = tokens.create_token(request.user, form.validated_data["name"])
        return Response(NewApiTokenSerializer(token).data | {"token": secret}, status=201)

    def perform_destroy(self, instance):
        tokens.revoke_token(self.request.user, instance.pk)


@extend_schema_view(list=extend_schema(parameters=list_parameters(AUDIT)))
class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit log: only events of environments the user can view (and their own)."""

    serializer_class = AuditEventSerializer
    queryset = AuditEvent.objects.all()

    def get_queryset(self):
        events = access.audit_events(self.request.user).select_related(None)
        if self.action != "list":
            return events
        return AUDIT.apply(events, query_list(self.request, AUDIT))

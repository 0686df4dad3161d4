"""The base of every Berth viewset: one place where access is restricted."""

from __future__ import annotations

from rest_framework import viewsets


class RestrictedViewSetMixin:
    """Restricts the queryset for every action through the model's ``restrict()``.

    ``restrict_action`` is the environment action needed to *see* rows (404 otherwise,
    so a stranger cannot tell forbidden from missing); writes are checked again by the
    domain functions the viewset calls, which raise 403 with the missing action.
    """

    restrict_action = "view_environment"

    def get_queryset(self):
        return self.queryset.restrict(self.request.user, self.restrict_action)


class RestrictedReadOnlyViewSet(RestrictedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    pass


class RestrictedModelViewSet(RestrictedViewSetMixin, viewsets.ModelViewSet):
    pass

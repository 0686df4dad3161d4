"""The base of every Berth viewset: one place where access is restricted.

NetBox's way: the queryset is restricted for every request through the model's
``restrict(user, action)``, so a row the user cannot see answers 404 exactly like a
missing one. Writes go through the domain functions (which check the action and raise
403 naming it); after a write the object is looked up again through the restricted
queryset, so a write can never hand back something the user may not see.
"""

from __future__ import annotations

from rest_framework import exceptions, viewsets

__all__ = ["RestrictedModelViewSet", "RestrictedReadOnlyViewSet", "RestrictedViewSetMixin"]


class RestrictedViewSetMixin:
    """Restricts the queryset for every action through the model's ``restrict()``.

    ``restrict_action`` is the environment action needed to *see* rows. Subclasses that
    write implement :meth:`create_object` / :meth:`update_object` with a domain function.
    """

    restrict_action = "view_environment"

    def get_queryset(self):
        return self.queryset.restrict(self.request.user, self.restrict_action)

    def validated(self, serializer_class, data) -> dict:
        """``data`` validated by ``serializer_class`` with this request's context, so its
        related fields resolve through the user's restricted querysets."""
        form = serializer_class(data=data, context=self.get_serializer_context())
        form.is_valid(raise_exception=True)
        return form.validated_data

    def create_object(self, user, data: dict):
        raise exceptions.MethodNotAllowed(self.request.method)

    def update_object(self, user, instance, data: dict):
        raise exceptions.MethodNotAllowed(self.request.method)

    def perform_create(self, serializer):
        serializer.instance = self._recheck(
            self.create_object(self.request.user, serializer.validated_data)
        )

    def perform_update(self, serializer):
        serializer.instance = self._recheck(
            self.update_object(self.request.user, serializer.instance, serializer.validated_data)
        )

    def _recheck(self, instance):
        """The written object, as the user's restricted queryset sees it."""
        try:
            return self.get_queryset().get(pk=instance.pk)
        except self.queryset.model.DoesNotExist:
            raise exceptions.NotFound() from None


class RestrictedReadOnlyViewSet(RestrictedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    pass


class RestrictedModelViewSet(RestrictedViewSetMixin, viewsets.ModelViewSet):
    pass

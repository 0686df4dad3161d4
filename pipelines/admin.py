"""Pipelines in the admin: read-only. Definitions, runs and approvals change only through
the pages and the API, which check the rules and audit; the webhook secret is never shown."""

from django.contrib import admin

from pipelines.models import (
    Approval,
    Pipeline,
    PipelineRevision,
    PipelineRun,
    RunEvent,
    StageRun,
    WebhookDelivery,
)
from portal.admin import ReadOnlyAdmin


@admin.register(Pipeline)
class PipelineAdmin(ReadOnlyAdmin):
    list_display = ["name", "service", "environment", "created_by", "created_at"]
    list_filter = ["environment"]
    exclude = ["webhook_secret_encrypted"]


@admin.register(PipelineRevision)
class PipelineRevisionAdmin(ReadOnlyAdmin):
    list_display = ["pipeline", "revision", "comment", "created_by", "created_at"]


@admin.register(PipelineRun)
class PipelineRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "pipeline", "status", "digest", "actor", "created_at"]
    list_filter = ["status"]


@admin.register(StageRun)
class StageRunAdmin(ReadOnlyAdmin):
    list_display = ["run", "name", "kind", "environment", "status", "started_at"]
    list_filter = ["status", "kind"]


@admin.register(RunEvent)
class RunEventAdmin(ReadOnlyAdmin):
    list_display = ["run", "at", "stage", "kind"]


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    list_display = ["stage", "user", "at", "digest", "expires_at"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["pipeline", "received_at"]

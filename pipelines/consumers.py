"""Pipeline websockets: a run's progress (``/ws/pipeline-runs/<id>/``), replayable to a
late viewer, and the live "waiting for you" list (``/ws/pipelines/waiting/``)."""

from __future__ import annotations

from channels.db import database_sync_to_async

from environments import access
from environments.consumers.base import BerthConsumer
from pipelines import access as pipeline_access
from pipelines.actions import waiting_for
from pipelines.models import PipelineRun
from pipelines.runner.events import WAITING_GROUP, run_group

__all__ = ["PipelineRunConsumer", "WaitingForYouConsumer"]

get_run = database_sync_to_async(pipeline_access.get_run)


def _log_tail(log: str, size: int = 65536) -> str:
    """The end of a stage's log, saying so when it is not all of it."""
    if len(log) <= size:
        return log
    return (
        f"[... truncated: the first {len(log) - size} characters are not shown ...]\n" + log[-size:]
    )


def _stage_view(stage, visible: set[int], readable: set[int]) -> dict:
    shown = {
        "name": stage.name, "kind": stage.kind, "step": stage.step, "status": stage.status,
    }  # fmt: skip
    if stage.environment_id in visible:
        shown |= {
            "environment": stage.environment.slug if stage.environment else None,
            "reason": stage.reason, "results": stage.results, "attempt": stage.attempt,
            "started_at": stage.started_at.isoformat() if stage.started_at else None,
            "finished_at": stage.finished_at.isoformat() if stage.finished_at else None,
            "duration": stage.duration,
            "log": _log_tail(stage.log) if stage.environment_id in readable else "",
        }  # fmt: skip
        if stage.environment_id not in readable:
            shown["log_withheld"] = f"You may not read logs in {stage.environment.name}."
    return shown


class PipelineRunConsumer(BerthConsumer):
    """The run, its stages and every event so far, then each new event. The group is
    joined before the history is read and events carry a sequence number, so a client
    connecting mid-way misses nothing and sees nothing twice. Events of stages in
    environments the viewer cannot see carry their status only."""

    group = ""
    last_seq = 0
    hidden_stages: frozenset | set = frozenset()
    unreadable_logs: frozenset | set = frozenset()  # hidden stages and those without view_logs

    async def authorize(self, user, run_id: int) -> None:
        self.run = await get_run(user, pk=run_id)

    async def opened(self) -> None:
        self.group = run_group(self.run.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        snapshot = await self._snapshot(self.run.pk)  # sets last_seq
        await self.send_json({"type": "snapshot", **snapshot})

    async def closed(self) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def run_event(self, message: dict) -> None:
        event = message["event"]
        if event["seq"] <= self.last_seq:
            return  # already in the snapshot
        self.last_seq = event["seq"]
        if event["kind"] == "log" and event["stage"] in self.unreadable_logs:
            return
        await self.send_json({"type": "event", "event": self._in_sight(event)})

    def _in_sight(self, event: dict) -> dict:
        """``event`` as this viewer may see it: a hidden stage's status only; a run's
        reason without what happened in a hidden stage."""
        if event["stage"] and event["stage"] in self.hidden_stages:
            return {**event, "message": "", "data": {"status": event["data"].get("status")}}
        reason = event["data"].get("reason") if event["kind"] == "run" else None
        if (
            reason
            and (shown := pipeline_access.reason_in_sight(reason, self.hidden_stages)) != reason
        ):
            data = {**event["data"], "reason": shown}
            return {**event, "message": event["message"].replace(reason, shown), "data": data}
        return event

    @database_sync_to_async
    def _snapshot(self, run_id: int) -> dict:
        run = PipelineRun.objects.select_related("pipeline__service", "revision").get(pk=run_id)
        # Events first, then the stages: a log chunk is either in a stage's log read
        # below or comes live after ``last_seq``. Log events are not replayed one by one:
        # each stage's log (its bounded tail) stands for them.
        history = list(run.events.order_by("seq"))
        visible = set(access.visible_environments(self.user).values_list("pk", flat=True))
        stages = list(run.stages.select_related("environment").order_by("step", "id"))
        self.hidden_stages = {s.name for s in stages if s.environment_id not in visible}
        readable = pipeline_access.log_environments(self.user)
        self.unreadable_logs = {s.name for s in stages if s.environment_id not in readable}
        self.last_seq = history[-1].seq if history else 0
        events = []
        for event in history:
            message = event.as_message()
            if message["kind"] == "log":
                continue
            events.append(self._in_sight(message))
        return {
            "run": run.pk, "status": run.status,
            "reason": pipeline_access.reason_in_sight(run.reason, self.hidden_stages), "digest": run.digest,
            "pipeline": run.pipeline.name, "service": run.pipeline.service.name,
            "revision": run.revision.revision,
            "stages": [_stage_view(stage, visible, readable) for stage in stages],
            "events": events,
        }  # fmt: skip


class WaitingForYouConsumer(BerthConsumer):
    """Every approval and confirmation the user can give, sent again whenever one opens
    or closes anywhere (the list is worked out for this user each time)."""

    async def authorize(self, user) -> None:
        return None

    async def opened(self) -> None:
        await self.channel_layer.group_add(WAITING_GROUP, self.channel_name)
        await self.send_json({"type": "snapshot", **(await self._items())})

    async def closed(self) -> None:
        await self.channel_layer.group_discard(WAITING_GROUP, self.channel_name)

    async def waiting_changed(self, message: dict) -> None:
        await self.send_json({"type": "snapshot", **(await self._items())})

    @database_sync_to_async
    def _items(self) -> dict:
        stages = waiting_for(self.user)
        return {
            # The scope of the list: the environments whose approvals it can show.
            "environments": sorted(
                access.visible_environments(self.user).values_list("pk", flat=True)
            ),
            "items": [
                {
                    "run": s.run_id, "stage": s.name, "kind": s.kind,
                    "environment": s.environment.name, "pipeline": s.run.pipeline.name,
                    "service": s.run.pipeline.service.name, "digest": s.run.digest,
                    "url": f"/pipeline-runs/{s.run_id}/",
                }
                for s in stages
            ],
        }  # fmt: skip

"""The kernel every app builds on; it imports no app.

``audit`` (the append-only log), ``events`` (websocket groups and sending on commit),
``crypto`` (secrets at rest), ``tokens`` and ``ws_auth`` (personal API tokens, on HTTP
and websockets), ``errors`` (the domain errors every edge maps the same way), ``tasks``
(queueing a task by name after commit) and ``models`` (AuditEvent, ApiToken).
"""

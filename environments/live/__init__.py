"""Live data fanned out to websockets: one shared reader per source (``hub``), container
and service logs (``logs``, ``sources``, ``lines``), stats (``stats``), engine events
(``events``) and the streamed log download (``download``)."""

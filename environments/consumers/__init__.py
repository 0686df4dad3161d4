"""Websocket consumers, one module per socket, all on :mod:`.base` (sign-in,
authorization through :mod:`environments.access`, refusal codes)."""

"""How a deployment runs: the config schema (``config``), the runner that claims and
finishes a deployment and the reaper (``runner``), and one module per strategy
(``strategies``)."""

"""One job, from a queued `Job` (ids only) to a completed check run and the sticky comment:
`runner.py` runs the steps; the other modules are what a step publishes."""

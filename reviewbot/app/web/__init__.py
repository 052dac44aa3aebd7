"""The web front: verify a delivery, route it to a job, enqueue it, acknowledge (and
`/healthz`, `/metrics`). Nothing here runs a check."""

"""The queue between the web front and the job runner, the store it shares across
processes, the `reviewbot worker` process, and the reconciler that recovers lost work."""

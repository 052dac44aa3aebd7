"""The GitHub App, by role: `web` (verify, dedupe, enqueue, acknowledge), `queue` (the
queue, its shared store, the worker process, reconciliation), `job` (one job's steps and
what they publish) and `github` (GitHub IO); `settings`, `logs` and `metrics` serve them
all, and `demo` runs it against an in-process GitHub."""

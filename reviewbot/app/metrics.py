"""A tiny Prometheus text exposition: counters, gauges and histograms with labels."""

from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

_HELP = {
    "reviewbot_webhook_deliveries_total": ("counter", "Webhook deliveries by event and outcome"),
    "reviewbot_jobs_total": ("counter", "Jobs finished by kind and outcome"),
    "reviewbot_job_duration_seconds": ("histogram", "Job durations by kind and outcome"),
    "reviewbot_github_requests_total": ("counter", "GitHub API requests by method and status"),
    "reviewbot_github_rate_limit_remaining": ("gauge", "Last seen x-ratelimit-remaining"),
    "reviewbot_github_retries_total": ("counter", "GitHub requests retried, by reason"),
    "reviewbot_queue_depth": ("gauge", "Jobs waiting in the embedded queue"),
}

Labels = tuple[tuple[str, str], ...]


_keys: dict[tuple, Labels] = {}  # labels as given -> as stored; a few dozen in practice


def _labels(labels: dict[str, object] | None) -> Labels:
    given = tuple(labels.items()) if labels else ()
    key = _keys.get(given)
    if key is None:
        if len(_keys) > 4096:
            _keys.clear()
        key = _keys[given] = tuple(sorted((k, str(v)) for k, v in given))
    return key


def _fmt(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return "{" + inner + "}"


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._hist: dict[str, dict[Labels, list[float]]] = defaultdict(dict)

    def inc(self, name: str, labels: dict[str, object] | None = None, value: float = 1) -> None:
        key = _labels(labels)
        with self._lock:
            series = self._values[name]
            series[key] = series.get(key, 0) + value

    def set(self, name: str, labels: dict[str, object] | None, value: float) -> None:
        with self._lock:
            self._values[name][_labels(labels)] = value

    def observe(self, name: str, labels: dict[str, object] | None, value: float) -> None:
        key = _labels(labels)
        with self._lock:
            row = self._hist[name].setdefault(key, [0.0] * (len(BUCKETS) + 2))
            for i, bound in enumerate(BUCKETS):
                if value <= bound:
                    row[i] += 1
            row[-2] += 1  # count
            row[-1] += value  # sum

    def value(self, name: str, labels: dict[str, object] | None = None) -> float:
        with self._lock:
            return self._values.get(name, {}).get(_labels(labels), 0)

    def render(self) -> str:
        out: list[str] = []
        with self._lock:
            names = sorted(set(self._values) | set(self._hist))
            for name in names:
                kind, help_text = _HELP.get(name, ("untyped", name))
                out.append(f"# HELP {name} {help_text}")
                out.append(f"# TYPE {name} {kind}")
                for labels, value in sorted(self._values.get(name, {}).items()):
                    out.append(f"{name}{_fmt(labels)} {_num(value)}")
                for labels, row in sorted(self._hist.get(name, {}).items()):
                    for i, bound in enumerate(BUCKETS):
                        out.append(f"{name}_bucket{_fmt((*labels, ('le', str(bound))))} "
                                   f"{_num(row[i])}")
                    out.append(f"{name}_bucket{_fmt((*labels, ('le', '+Inf')))} {_num(row[-2])}")
                    out.append(f"{name}_count{_fmt(labels)} {_num(row[-2])}")
                    out.append(f"{name}_sum{_fmt(labels)} {row[-1]:.6f}")
        return "\n".join(out) + "\n"


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(v)

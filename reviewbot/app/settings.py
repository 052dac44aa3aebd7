"""Settings from the environment, validated before the server binds a port."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from reviewbot.memory import ENV as MEMORY_ENV
from reviewbot.memory import MemoryBudget

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_PORT = 8000


DEFAULT_WORKER_PORT = 8001


class SettingsError(Exception):
    """A setting is missing or unusable; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    app_id: str
    private_key: str = field(repr=False)
    webhook_secret: bytes = field(repr=False)
    api_url: str = DEFAULT_API_URL
    port: int = DEFAULT_PORT
    workers: int = 4
    bot_login: str | None = None
    # The shared queue (redis://... or postgresql://...); None: the embedded queue.
    queue_url: str | None = None
    queue_name: str = "reviewbot"
    heartbeat: int = 30  # seconds a job may go without a heartbeat before it is taken up again
    sweep_interval: int = 10  # how often workers look for jobs whose worker died
    # Seconds between reconciliation passes; 0 turns reconciliation off (`from_env`
    # defaults to 300, a Settings built in code to 0).
    reconcile_interval: float = 0.0
    write_gap: float = 1.0  # seconds between GitHub writes per installation
    # `reviewbot worker`'s /healthz, /readyz and /metrics (0: none; `from_env`: 8001)
    worker_port: int = 0
    # Resident bytes a worker process may reach in an analysis (REVIEWBOT_MAX_MEMORY);
    # a job that would pass it fails its check run with that message. None: no limit.
    max_memory: int | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        problems: list[str] = []

        app_id = (env.get("GITHUB_APP_ID") or "").strip()
        if not app_id:
            problems.append("GITHUB_APP_ID is not set (the App ID from the app's settings page)")
        elif not app_id.isdigit():
            problems.append(f"GITHUB_APP_ID must be a number, got {app_id!r}")

        key = _private_key(env, problems)

        secret = env.get("GITHUB_WEBHOOK_SECRET") or ""
        if not secret.strip():
            problems.append("GITHUB_WEBHOOK_SECRET is not set: refusing to accept unsigned "
                            "webhooks (use the secret entered in the app's webhook settings)")

        api_url = (env.get("GITHUB_API_URL") or DEFAULT_API_URL).strip().rstrip("/")
        parsed = urlparse(api_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            problems.append(f"GITHUB_API_URL must be an http(s) URL such as {DEFAULT_API_URL} "
                            f"or https://HOST/api/v3, got {api_url!r}")

        port = _int(env, "PORT", DEFAULT_PORT, 1, 65535, problems)
        worker_port = _int(env, "REVIEWBOT_WORKER_PORT", DEFAULT_WORKER_PORT, 0, 65535,
                           problems)
        workers = _int(env, "REVIEWBOT_WORKERS", 4, 1, 64, problems)
        bot_login = (env.get("REVIEWBOT_BOT_LOGIN") or "").strip() or None
        queue_url = (env.get("REVIEWBOT_QUEUE_URL") or "").strip() or None
        if queue_url is not None and urlparse(queue_url).scheme.lower() not in (
                "redis", "rediss", "postgres", "postgresql"):
            problems.append("REVIEWBOT_QUEUE_URL must be a redis://HOST:PORT/DB or "
                            "postgresql://USER@HOST/DB URL (unset: the embedded queue)")
        queue_name = (env.get("REVIEWBOT_QUEUE_NAME") or "reviewbot").strip()
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", queue_name):
            problems.append("REVIEWBOT_QUEUE_NAME may only hold letters, digits, '.', '_' "
                            f"and '-', got {queue_name!r}")
        heartbeat = _int(env, "REVIEWBOT_HEARTBEAT", 30, 1, 3600, problems)
        sweep = _int(env, "REVIEWBOT_SWEEP_INTERVAL", 10, 1, 3600, problems)
        reconcile = _int(env, "REVIEWBOT_RECONCILE_INTERVAL", 300, 0, 86400, problems)
        write_gap = _float(env, "REVIEWBOT_WRITE_GAP", 1.0, 0.0, 60.0, problems)
        try:
            max_memory = MemoryBudget.from_env(env).limit
        except ValueError as exc:
            problems.append(f"{MEMORY_ENV}: {exc}")
            max_memory = None

        if problems:
            raise SettingsError("invalid settings:\n  - " + "\n  - ".join(problems))
        return cls(app_id=app_id, private_key=key, webhook_secret=secret.encode(),
                   api_url=api_url, port=port, workers=workers, bot_login=bot_login,
                   queue_url=queue_url, queue_name=queue_name, heartbeat=heartbeat,
                   sweep_interval=sweep, reconcile_interval=float(reconcile),
                   write_gap=write_gap, worker_port=worker_port, max_memory=max_memory)

    @property
    def distributed(self) -> bool:
        return self.queue_url is not None


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int,
         problems: list[str]) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        problems.append(f"{name} must be a whole number, got {raw!r}")
        return default
    if not low <= value <= high:
        problems.append(f"{name} must be between {low} and {high}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float,
           problems: list[str]) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        problems.append(f"{name} must be a number, got {raw!r}")
        return default
    if not low <= value <= high:
        problems.append(f"{name} must be between {low:g} and {high:g}, got {value:g}")
    return value


def _private_key(env: Mapping[str, str], problems: list[str]) -> str:
    text = env.get("GITHUB_PRIVATE_KEY") or ""
    path = (env.get("GITHUB_PRIVATE_KEY_PATH") or "").strip()
    where = "GITHUB_PRIVATE_KEY"
    if not text.strip() and path:
        where = f"GITHUB_PRIVATE_KEY_PATH ({path})"
        try:
            text = Path(path).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"cannot read {where}: {exc.__class__.__name__}")
            return ""
    if not text.strip():
        problems.append("no private key: set GITHUB_PRIVATE_KEY (the PEM text) or "
                        "GITHUB_PRIVATE_KEY_PATH (a file holding it)")
        return ""
    if "\n" not in text.strip() and "\\n" in text:
        text = text.replace("\\n", "\n")  # PEM pasted into a one-line env var
    try:
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
    except ImportError:
        problems.append(f"{where} cannot be read: the cryptography library is not "
                        "installed (pip install 'reviewbot[app]')")
        return ""
    try:
        key = load_pem_private_key(text.encode(), password=None)
    except TypeError:
        problems.append(f"{where} is encrypted with a passphrase: GitHub's keys are not; "
                        "use the .pem file as downloaded")
        return ""
    except Exception as exc:  # never echo key material in the message
        kind = "malformed PEM" if "-----BEGIN" in text else "no PEM block found"
        problems.append(f"{where} is not a PEM-encoded private key ({kind}: "
                        f"{exc.__class__.__name__}; download one from the app's settings "
                        "page: 'Generate a private key')")
        return ""
    if not isinstance(key, rsa.RSAPrivateKey):
        problems.append(f"{where} must be an RSA key (GitHub App keys are RSA)")
    return text


_ENV_LINE = re.compile(r"""^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$""")


def read_env_file(path: Path) -> dict[str, str]:
    """`KEY=value` lines as compose and `reviewbot register` write them: `#` comments,
    `export`, single quotes taken literally, double quotes with `\\n`, `\\"` and `\\\\`."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read {path}: {exc.__class__.__name__}") from None
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _ENV_LINE.match(line)
        if m is None:
            raise SettingsError(f"{path}:{n}: expected KEY=value")
        key, value = m.groups()
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        elif len(value) >= 2 and value[0] == value[-1] == '"':
            value = re.sub(r'\\(.)', lambda e: {"n": "\n"}.get(e.group(1), e.group(1)),
                           value[1:-1])
        else:
            value = value.split(" #", 1)[0].strip()
        out[key] = value
    return out


def environment(env_file: Path | None) -> dict[str, str]:
    """The process environment over the env file's values: a variable set in the
    environment wins, as with compose."""
    values = read_env_file(env_file) if env_file is not None else {}
    return {**values, **os.environ}

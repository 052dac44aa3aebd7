"""The deploy files: the image's Dockerfile (linted with hadolint when installed), the
compose files (parsed and merged as `docker compose` does), the Procfile and the lock file
they install, and the image's HEALTHCHECK run against real `serve` and `worker` processes.
No Docker engine runs here, so no image is built (docs/github-app.md says what was run)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib

import pytest
import yaml

from reviewbot.model import DEFAULT_RUNTIME
from tests.app.conftest import APP_ID
from tests.app.services import ROOT, Procs, base_env, free_port, wait_for

GITHUB_VARS = {"GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "GITHUB_WEBHOOK_SECRET"}


# -- compose ---------------------------------------------------------------------------------

class _Reset:
    pass


class _Override:
    def __init__(self, value):
        self.value = value


class ComposeLoader(yaml.SafeLoader):
    """YAML with compose's merge tags, `!reset` and `!override`."""


ComposeLoader.add_constructor("!reset", lambda loader, node: _Reset())
ComposeLoader.add_constructor("!override", lambda loader, node: _Override(
    loader.construct_mapping(node, deep=True) if isinstance(node, yaml.MappingNode)
    else loader.construct_sequence(node, deep=True)))


def _merge(base, over):
    """compose's rule for several files: mappings merge key by key, anything else is
    replaced; `!override` replaces a mapping whole and `!reset` removes the key."""
    if isinstance(over, _Override):
        return over.value
    if not (isinstance(base, dict) and isinstance(over, dict)):
        return over
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, _Reset):
            out.pop(key, None)
        else:
            out[key] = _merge(out[key], value) if key in out else _plain(value)
    return out


def _plain(value):
    return value.value if isinstance(value, _Override) else value


def compose(*names: str) -> dict:
    config: dict = {}
    for name in names:
        config = _merge(config, yaml.load((ROOT / name).read_text(), Loader=ComposeLoader))
    return config


VAR = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}`."""
    def one(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2) or "", m.group(3) or ""
        if env.get(name):
            return env[name]
        if op.endswith("?"):
            raise KeyError(f"{name}: {arg}")
        return arg if op.endswith("-") else ""
    return VAR.sub(one, value)


def _strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def test_compose_runs_web_worker_and_redis_from_one_image():
    config = compose("compose.yaml")
    services = config["services"]
    assert set(services) == {"web", "worker", "redis"}
    web, worker = services["web"], services["worker"]
    assert web["build"] == "." and web["image"] == worker["image"]
    assert (web["command"], worker["command"]) == (["serve"], ["worker"])
    for service in (web, worker):
        assert service["environment"]["REVIEWBOT_QUEUE_URL"] == "redis://redis:6379/0"
        assert service["depends_on"]["redis"] == {"condition": "service_healthy"}
    # the image's HEALTHCHECK asks the worker on its own health port
    assert worker["environment"]["REVIEWBOT_HEALTH_PORT"] == \
        worker["environment"]["REVIEWBOT_WORKER_PORT"]
    assert "--appendonly" in services["redis"]["command"]  # jobs survive a restart


def test_compose_needs_only_the_three_github_variables():
    config = compose("compose.yaml")
    required = {m.group(1) for text in _strings(config) for m in VAR.finditer(text)
                if (m.group(2) or "").endswith("?")}
    assert required == GITHUB_VARS
    env = {name: "x" for name in GITHUB_VARS}
    for text in _strings(config):
        interpolate(text, env)  # nothing else is required
    with pytest.raises(KeyError, match="GITHUB_WEBHOOK_SECRET"):
        for text in _strings(config):
            interpolate(text, {"GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": "k"})


def test_the_postgres_variant_replaces_redis():
    config = compose("compose.yaml", "compose.postgres.yaml")
    services = config["services"]
    assert set(services) == {"web", "worker", "postgres"}
    for name in ("web", "worker"):
        assert services[name]["environment"]["REVIEWBOT_QUEUE_URL"].startswith(
            "postgresql://reviewbot:reviewbot@postgres:5432/")
        assert set(services[name]["depends_on"]) <= set(services)
        assert services[name]["environment"]["GITHUB_APP_ID"].startswith("${GITHUB_APP_ID:?")
    assert set(config["volumes"]) == {"cache", "redis", "postgres"}


# -- the Dockerfile, the Procfile and the lock file ------------------------------------------

def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def healthcheck_code() -> str:
    m = re.search(r"^HEALTHCHECK .*?\\\n\s+CMD (\[.*\])$", dockerfile(), re.M)
    assert m, "no HEALTHCHECK with an exec-form CMD"
    args = json.loads(m.group(1))
    assert args[:2] == ["python", "-c"]
    return args[2]


def test_the_image_is_multi_stage_non_root_on_the_newest_runtimes_python():
    text = dockerfile()
    assert re.findall(r"^FROM (\S+)", text, re.M) == [
        "python:${PYTHON_VERSION}-slim", "python:${PYTHON_VERSION}-slim"]
    python = re.search(r"^ARG PYTHON_VERSION=(\S+)$", text, re.M).group(1)
    assert f"python{python}" == DEFAULT_RUNTIME  # the newest Lambda Python runtime
    assert "--require-hashes" in text and "-r requirements.txt" in text
    last_stage = text.split("\nFROM ")[-1]
    assert re.search(r"^USER 10001:10001$", last_stage, re.M)  # numeric: runAsNonRoot can tell
    assert re.search(r'^ENTRYPOINT \["reviewbot"\]$', last_stage, re.M)
    assert "/readyz" in healthcheck_code()


@pytest.mark.skipif(shutil.which("hadolint") is None and not (
    ROOT / ".venv/bin/hadolint").exists(), reason="hadolint is not installed (test extra)")
def test_hadolint_passes():
    binary = shutil.which("hadolint") or str(ROOT / ".venv/bin/hadolint")
    done = subprocess.run([binary, "--no-color", "--failure-threshold", "info", "Dockerfile"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_lock_pins_every_dependency_with_hashes():
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in
              project["dependencies"] + project["optional-dependencies"]["app"]]
    text = (ROOT / "requirements.txt").read_text()
    pins = {}
    for entry in re.split(r"\n(?=\S)", text):
        if entry.startswith("#") or not entry.strip():
            continue
        m = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", entry)
        assert m, entry
        assert "--hash=sha256:" in entry, entry
        pins[_name(m.group(1))] = m.group(2)
    for req in wanted:
        name = _name(req.name)
        assert name in pins, f"{name} is not in requirements.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (name, pins[name])
        for extra in req.extras:  # saq[redis,postgres], PyJWT[crypto]
            assert {"saq": {"redis", "postgres"}, "pyjwt": {"crypto"}}[name] >= {extra}
    assert {"redis", "psycopg", "cryptography"} <= set(pins)


def test_procfile_runs_from_the_source_tree():
    # A Python buildpack installs requirements.txt, not the project: the Procfile runs the
    # package from the app's directory.
    lines = dict(line.split(": ", 1) for line in
                 (ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert lines == {"web": "python -m reviewbot serve --port $PORT",
                     "worker": "python -m reviewbot worker"}
    assert (ROOT / ".python-version").read_text().strip() in {"3.13", "3.14"}


# -- the HEALTHCHECK against real processes --------------------------------------------------

def _healthy(port_env: dict[str, str]) -> bool:
    return subprocess.run([sys.executable, "-c", healthcheck_code()], env=port_env,
                          capture_output=True).returncode == 0


async def test_the_healthcheck_follows_readiness(standin, keypair, tmp_path):
    env = base_env(api_url=standin.base_url, app_id=APP_ID, private_key=keypair[0],
                   secret=b"s3cret", tmp=tmp_path)
    procs = Procs(tmp_path, env)
    port = free_port()
    assert not _healthy({"PORT": str(port)})  # nothing listening
    serve = procs.start("serve", port=port)
    try:
        await procs.ready(serve)
        assert _healthy({"PORT": str(port)})
        # a worker whose Redis is down is alive but not ready: unhealthy
        worker_port = free_port()
        worker = procs.start("worker", env={
            "REVIEWBOT_QUEUE_URL": f"redis://127.0.0.1:{free_port()}/0",
            "REVIEWBOT_WORKER_PORT": str(worker_port)})
        await wait_for(lambda: '"retry_in"' in worker.text(), 20, "a retry line")
        assert not _healthy({"PORT": str(port), "REVIEWBOT_HEALTH_PORT": str(worker_port)})
    finally:
        await procs.stop_all()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed")
@pytest.mark.parametrize("unit", ["reviewbot-web.service", "reviewbot-worker@.service"])
def test_the_systemd_units_verify(unit, tmp_path):
    from pathlib import Path

    reviewbot = shutil.which("reviewbot") or str(Path(sys.executable).parent / "reviewbot")
    text = (ROOT / "deploy/systemd" / unit).read_text()
    assert "RestartPreventExitStatus=2" in text  # a settings error: restarting won't help
    (tmp_path / unit).write_text(text.replace("/opt/reviewbot/bin/reviewbot", reviewbot))
    done = subprocess.run(["systemd-analyze", "verify", str(tmp_path / unit)],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")

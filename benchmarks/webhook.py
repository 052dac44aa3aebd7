"""Webhook acknowledgement throughput and latency, side by side with Probot's receiver.

    python benchmarks/webhook.py [--seconds 8] [--connections 32] [--rounds 3]

Posts a signed ~28 kB `pull_request.opened` payload (a fresh delivery GUID per request)
with `wrk` over loopback to each of these in turn, round after round:
- `reviewbot serve` (signature check, JSON parsing, routing, dedupe and enqueue on the path);
- @octokit/webhooks' Node middleware (the receiver Probot uses; installed from the npm
  registry into a temporary folder), with a no-op `pull_request` handler.
Prints requests per second and p50/p99 latency of every run, and the median of each
round's ratio of reviewbot to octokit.
Needs `wrk` (Debian package) and `node`/`npm`. Targets: reviewbot >= 1.0x octokit,
p99 < 50 ms (docs/performance.md).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SECRET = "benchmark-secret"
FIXTURE = Path(__file__).resolve().parents[2] / "shared/fixtures/webhooks/pull_request.opened.json"

OCTOKIT_SERVER = """
import { Webhooks, createNodeMiddleware } from "@octokit/webhooks";
import { createServer } from "node:http";
const webhooks = new Webhooks({ secret: process.argv[3] });
webhooks.on("pull_request", () => {});
createServer(createNodeMiddleware(webhooks, { path: "/webhook" }))
  .listen(Number(process.argv[2]), "127.0.0.1");
"""

WRK_SCRIPT = """
local f = io.open("{body}", "rb")
local body = f:read("*a")
f:close()
local n = 0
local seed = os.time() .. "-" .. math.random(1, 1000000000)
request = function()
  n = n + 1
  local headers = {{}}
  headers["Content-Type"] = "application/json"
  headers["X-GitHub-Event"] = "pull_request"
  headers["X-GitHub-Delivery"] = string.format("bench-%s-%d", seed, n)
  headers["X-Hub-Signature-256"] = "{signature}"
  return wrk.format("POST", "/webhook", headers, body)
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


def payload() -> bytes:
    if FIXTURE.exists():
        data = json.loads(FIXTURE.read_text())
    else:
        from reviewbot.app.demo import payloads

        pull = {"number": 7, "head": {"ref": "feature", "sha": "a" * 40},
                "base": {"ref": "main", "sha": "b" * 40}}
        data = payloads.pull_request("opened", pull, {"full_name": "o/r"}, 1)  # ~300 bytes
    data["installation"] = {"id": 1, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ=="}
    return json.dumps(data, indent=2).encode()  # as GitHub sends it, ~28 kB


def private_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def run_wrk(port: int, script: Path, seconds: int, connections: int) -> dict:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
         f"http://127.0.0.1:{port}/webhook"], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": to_ms(lat["50"]), "p99": to_ms(lat["99"]),
            "errors": int(non2xx.group(1)) if non2xx else 0}


def to_ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def start(cmd: list[str], port: int, script: Path, args, env=None, cwd=None):
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_port(port)
    run_wrk(port, script, 2, args.connections)  # warm up
    return proc


def stop(name: str, proc: subprocess.Popen) -> None:
    proc.terminate()
    try:  # reviewbot drains running jobs for up to 25 s (here: one retrying no GitHub)
        proc.wait(35)
    except subprocess.TimeoutExpired:
        print(f"{name} did not stop within 35 s of SIGTERM; killed", file=sys.stderr)
        proc.kill()


def show(name: str, result: dict) -> None:
    print(f"  {name:<20} {result['rps']:9.0f} req/s   p50 {result['p50']:6.2f} ms   "
          f"p99 {result['p99']:6.2f} ms   non-2xx {result['errors']}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    for tool in ("wrk", "node", "npm"):
        if shutil.which(tool) is None:
            print(f"{tool} is required (apt-get install wrk nodejs npm)", file=sys.stderr)
            return 2
    work = Path(tempfile.mkdtemp(prefix="reviewbot-webhook-bench-"))
    body = payload()
    (work / "body.json").write_bytes(body)
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    script = work / "post.lua"
    script.write_text(WRK_SCRIPT.format(body=work / "body.json", signature=sig))
    print(f"payload {len(body)} bytes, {args.connections} connections, {args.seconds} s each, "
          f"{os.cpu_count()} CPUs")

    node_dir = work / "octokit"
    node_dir.mkdir()
    (node_dir / "package.json").write_text('{"type": "module", "private": true}')
    subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund",
                    "@octokit/webhooks@14"], cwd=node_dir, check=True)
    (node_dir / "server.mjs").write_text(OCTOKIT_SERVER)

    env = {**os.environ, "GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": private_key(),
           "GITHUB_WEBHOOK_SECRET": SECRET, "REVIEWBOT_BOT_LOGIN": "reviewbot[bot]",
           # no GitHub here: the one job per PR head fails fast and completes
           "GITHUB_API_URL": f"http://127.0.0.1:{free_port()}",
           "REVIEWBOT_CACHE_DIR": str(work / "cache")}
    ports = {name: free_port() for name in ("reviewbot", "octokit")}
    commands = {
        "reviewbot": ([sys.executable, "-m", "reviewbot", "serve", "--host", "127.0.0.1",
                       "--port", str(ports["reviewbot"])], env, None),
        "octokit": (["node", "server.mjs", str(ports["octokit"]), SECRET], None, node_dir),
    }
    labels = {"reviewbot": "reviewbot serve", "octokit": "@octokit/webhooks"}
    # Both stay up (idle between their turns) and take turns, round after round:
    # this machine's speed drifts within seconds, so each round's ratio compares runs
    # made next to each other, and the median of those ratios is reported.
    procs = {}
    rounds = []
    try:
        for name, (cmd, penv, cwd) in commands.items():
            procs[name] = start(cmd, ports[name], script, args, env=penv, cwd=cwd)
        for i in range(args.rounds):
            print(f"round {i + 1}")
            results = {}
            for name in commands:
                results[name] = run_wrk(ports[name], script, args.seconds, args.connections)
                show(labels[name], results[name])
            rounds.append(results)
    finally:
        for name, proc in procs.items():
            stop(labels[name], proc)
    ratios = [r["reviewbot"]["rps"] / r["octokit"]["rps"] for r in rounds]
    p99 = max(r["reviewbot"]["p99"] for r in rounds)
    each = ", ".join(f"{x:.2f}" for x in ratios)
    print(f"reviewbot / octokit, median of {len(rounds)} rounds: "
          f"{statistics.median(ratios):.2f}x (target >= 1.0x) [{each}]")
    print(f"reviewbot p99, worst round: {p99:.2f} ms (target < 50 ms)")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

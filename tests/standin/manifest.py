"""GitHub's App manifest flow, for `reviewbot register`.

The web side: a browser POSTs `manifest` (JSON, form-encoded) to `/settings/apps/new` or
`/organizations/{org}/settings/apps/new` with `?state=`; GitHub shows a confirmation page
(the stand-in skips it) and redirects to the manifest's `redirect_url` with `code` and
`state`. The API side: `POST /app-manifests/{code}/conversions`, without credentials,
once and within an hour, answers 201 with the new App, its private key and its webhook
secret. From then on the stand-in is that App: it checks JWTs against the new key.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from urllib.parse import urlencode

from aiohttp import web

from reviewbot.app.demo.github import error, iso_time
from reviewbot.app.demo.serve import generate_key

CODE_TTL = 3600


class ManifestFlow:
    def manifest_routes(self) -> list[tuple]:
        return [
            ("POST", r"^/settings/apps/new$", self._new_app_form),
            ("POST", r"^/organizations/(?P<org>[^/]+)/settings/apps/new$", self._new_app_form),
            ("POST", r"^/app-manifests/(?P<code>[^/]+)/conversions$", self._conversion),
        ]

    async def _new_app_form(self, request: web.Request, org: str | None = None):
        form = await request.post()
        try:
            manifest = json.loads(form.get("manifest") or "")
        except ValueError:
            return web.Response(status=422, text="Invalid GitHub App configuration: the "
                                "manifest is not JSON")
        problems = [f"{key} is required" for key in ("name", "url", "redirect_url")
                    if not isinstance(manifest.get(key), str) or not manifest[key]]
        hook = manifest.get("hook_attributes") or {}
        if not str(hook.get("url") or "").startswith(("http://", "https://")):
            problems.append("hook_attributes.url must be a URL")
        if problems:
            return web.Response(status=422, text="Invalid GitHub App configuration: " +
                                "; ".join(problems))
        code = secrets.token_hex(10)
        self.manifest_codes[code] = (manifest, time.time(), org)
        query = urlencode({"code": code, "state": request.query.get("state", "")})
        return web.Response(status=302, headers={
            "Location": f"{manifest['redirect_url']}?{query}"})

    async def _conversion(self, request: web.Request, code: str):
        found = self.manifest_codes.pop(code, None)
        if found is None or time.time() - found[1] > CODE_TTL:
            return error(404, "Not Found")
        manifest, _, org = found
        pem, public_key = generate_key()
        self.app_id += 1
        self.public_key = public_key
        self.slug = re.sub(r"[^a-z0-9]+", "-", manifest["name"].lower()).strip("-")
        self.webhook_secret = secrets.token_hex(20).encode()
        self.webhook_url = manifest["hook_attributes"]["url"]
        self.registered_manifest = manifest
        now = iso_time(time.time())
        owner = org or "octocat"
        return web.json_response({
            "id": self.app_id, "slug": self.slug, "node_id": "A_kwDO",
            "owner": {"login": owner, "id": 2,
                      "type": "Organization" if org else "User"},
            "name": manifest["name"], "description": manifest.get("description"),
            "external_url": manifest["url"],
            "html_url": f"https://github.example/apps/{self.slug}",
            "created_at": now, "updated_at": now,
            "permissions": manifest.get("default_permissions", {}),
            "events": manifest.get("default_events", []),
            "client_id": "Iv1." + secrets.token_hex(8),
            "client_secret": secrets.token_hex(20),
            "webhook_secret": self.webhook_secret.decode(), "pem": pem}, status=201)

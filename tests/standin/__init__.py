"""The tests' GitHub stand-in, built on the demo's (`reviewbot.app.demo.github`).

`rules.StrictGitHub` adds GitHub's refusals (credentials, body rules);
`server.GitHubStandIn` adds recording, fault injection, validation against GitHub's
OpenAPI description (`openapi`), webhook deliveries and the endpoints only tests use;
`payloads` builds the webhooks the tests send. The tests find the OpenAPI description
in ../shared/fixtures themselves and pass its path in.
"""

from tests.standin.server import Failure, GitHubStandIn, Recorded

__all__ = ["Failure", "GitHubStandIn", "Recorded"]

import shutil

import pytest

from tests.app.services import require_saq


@pytest.fixture
def redis_binary():
    """Skips without SAQ or redis-server (fails instead under REVIEWBOT_REQUIRE_SERVICES)."""
    require_saq()
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")

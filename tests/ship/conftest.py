from __future__ import annotations

import pytest
from ship_support import example_env


@pytest.fixture
def env() -> dict[str, str]:
    """The contract's example CodeBuild environment, with a fixed commit."""
    return example_env() | {"GIT_COMMIT": "0123456789abcdef0123456789abcdef01234567"}

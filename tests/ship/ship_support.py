"""Helpers of the ship-file tests: the repository root, scripts/ship/render.py as a module, and the
contract's example environment (scripts/ship/example.env)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load_render():
    spec = importlib.util.spec_from_file_location("ship_render", ROOT / "scripts/ship/render.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["ship_render"] = module
    spec.loader.exec_module(module)
    return module


render = _load_render()


def example_env() -> dict[str, str]:
    env = {}
    for line in (ROOT / "scripts/ship/example.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    return env

"""The ship files agree with each other and with docs/contract.md."""

from __future__ import annotations

import json
import re

import yaml
from ship_support import ROOT, render

ARTIFACTS = {"imageDetail.json", "taskdef.json", "appspec.yaml"}


def buildspec() -> dict:
    return yaml.safe_load((ROOT / "buildspec.yml").read_text())


def commands(spec: dict, phase: str) -> str:
    return "\n".join(spec["phases"][phase]["commands"])


def test_buildspec_artifacts_are_what_build_sh_writes():
    spec = buildspec()
    assert str(spec["version"]) == "0.2"
    artifacts = spec["artifacts"]
    assert set(artifacts["files"]) == ARTIFACTS
    assert artifacts["discard-paths"] is True
    build = commands(spec, "build")
    assert "scripts/ship/build.sh --push" in build
    out = re.search(r"--out\s+\"?([^\"\s]+)\"?", build)
    assert out, build
    assert out.group(1) == f"$CODEBUILD_SRC_DIR/{artifacts['base-directory']}"


def test_buildspec_installs_the_pinned_toolchain_and_logs_in_to_ecr():
    spec = buildspec()
    install = commands(spec, "install")
    # The toolchain comes from rust-toolchain.toml (rustup reads it), never a floating channel.
    assert "--default-toolchain none" in install
    assert "rustup toolchain install\n" in install + "\n"
    assert "-unknown-linux-musl" in install and "musl-tools" in install
    # ARM CodeBuild (Amazon Linux, no apt) links with cargo-zigbuild at the pinned version.
    assert "cargo-zigbuild|ziglang" in install and "GREENLIGHT_CARGO_BUILD=zigbuild" in install
    pins = (ROOT / "tests/requirements.txt").read_text()
    assert re.search(r"^cargo-zigbuild==\d+\.\d+\.\d+$", pins, re.M) and re.search(r"^ziglang==[\d.]+$", pins, re.M)
    assert 'cargo "$cargo_build"' in (ROOT / "scripts/ship/build.sh").read_text()
    login = commands(spec, "pre_build")
    assert "aws ecr get-login-password" in login and "docker login" in login
    assert "$ECR_REPOSITORY_URI" in login
    cache = spec["cache"]["paths"]
    assert "target/**/*" in cache
    assert any(p.startswith("/root/.cargo/registry") for p in cache)


def test_rust_toolchain_is_pinned_with_the_musl_target():
    toolchain = (ROOT / "rust-toolchain.toml").read_text()
    assert re.search(r'channel = "\d+\.\d+\.\d+"', toolchain), "channel must be an exact version"
    assert "x86_64-unknown-linux-musl" in toolchain


def test_contract_variables_are_the_ones_render_reads():
    contract = (ROOT / "docs/contract.md").read_text()
    section = contract.split("Environment variables the CDK pipeline gives CodeBuild", 1)[1]
    table = section.split("\n## ", 1)[0]
    first_cells = [row.split("|")[1] for row in table.splitlines() if row.startswith("| `")]
    names = {name for cell in first_cells for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cell)}
    # AWS_ACCOUNT_ID serves the ECR login only (the repository URI carries the registry).
    assert names - {"AWS_ACCOUNT_ID"} == set(render.REQUIRED + render.OPTIONAL)


def test_contract_deployment_numbers_are_the_templates():
    contract = (ROOT / "docs/contract.md").read_text()
    (container,) = json.loads((ROOT / "taskdef.json").read_text())["containerDefinitions"]
    assert '`["CMD", "/greenlight", "healthcheck"]`' in contract
    assert container["healthCheck"]["command"] == ["CMD", "/greenlight", "healthcheck"]
    assert re.search(r"\| ECS `stopTimeout` \| 35 s", contract)
    assert re.search(r"\| `DRAIN_SECONDS` \| 25 ", contract)
    example = dict(
        line.split("=", 1)
        for line in (ROOT / "scripts/ship/example.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert (example["STOP_TIMEOUT_SECONDS"], example["DRAIN_SECONDS"]) == ("35", "25")
    assert (example["CONTAINER_NAME"], example["CONTAINER_PORT"]) == ("greenlight", "8080")


def test_templates_leave_the_codedeploy_placeholders():
    (container,) = json.loads((ROOT / "taskdef.json").read_text())["containerDefinitions"]
    assert container["image"] == "<IMAGE1_NAME>"
    assert 'TaskDefinition: "<TASK_DEFINITION>"' in (ROOT / "appspec.yaml").read_text()

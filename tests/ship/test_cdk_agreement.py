"""The real CDK app: render taskdef.json and appspec.yaml from its synthesized templates, the way
CodeBuild will see them, and check every shared value against the app's own resources.

Needs cdk/cdk.out (the cdk stage synthesizes it; scripts/ci/ship.sh runs `cdk synth` when it is
missing), or GREENLIGHT_CDK_OUT pointing at another cloud assembly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from agreement import Assembly, disagreements
from ship_support import ROOT, render

CDK_OUT = Path(os.environ.get("GREENLIGHT_CDK_OUT", ROOT / "cdk/cdk.out"))

if not (ROOT / "cdk/package.json").exists() and "GREENLIGHT_CDK_OUT" not in os.environ:
    pytest.skip("no CDK app in cdk/ on this branch yet", allow_module_level=True)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    templates = sorted(CDK_OUT.glob("*.template.json"))
    assert templates, f"no synthesized templates in {CDK_OUT}: run `cdk synth` in cdk/ first"
    project = Assembly(CDK_OUT).template_with_codebuild_project()
    assert project, f"no template in {CDK_OUT} has the CodeBuild project with TASK_FAMILY"
    out = tmp_path_factory.mktemp("rendered")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/ship/render.py"),
         "--from-template", str(CDK_OUT / project), "--out", str(out)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    return out


def test_rendered_ship_files_agree_with_the_cdk_app(rendered):
    problems = disagreements(CDK_OUT, rendered)
    assert not problems, "the ship files and the CDK app disagree:\n" + "\n".join(problems)


def test_codebuild_gets_every_contract_variable():
    assembly = Assembly(CDK_OUT)
    project = assembly.template_with_codebuild_project()
    assert project
    _, variables = render.codebuild_environment(assembly.templates[project.name.removesuffix(".template.json")])
    names = {v["Name"] for v in variables}
    # CodeBuild sets AWS_DEFAULT_REGION itself; every other variable of the contract must be there.
    expected = set(render.REQUIRED + render.OPTIONAL) - {"AWS_DEFAULT_REGION"}
    assert expected <= names, f"missing: {sorted(expected - names)}"

"""The ECS engine's pipeline: what its Deploy project consumes agrees with what the Build project
produces and with the stack it updates.

The Build stage (buildspec.yml, scripts/ship/build.sh) writes imageDetail.json with the pushed
image's URI. The Deploy project (an inline buildspec in the synthesized template) reads it, takes
the tag after ``$ECR_REPOSITORY_URI:``, and updates the stack with that tag as the ImageTag
parameter, every other parameter kept. Its commands run here for real under bash, with a stand-in
``aws`` CLI on PATH that answers DescribeStacks and records the update.

Needs the ECS engine's cloud assembly: cdk/cdk.out.ecs (the cdk stage synthesizes it;
scripts/ci/ship.sh when it is missing), or GREENLIGHT_CDK_OUT_ECS pointing at another one.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from ship_support import ROOT

CDK_OUT = Path(os.environ.get("GREENLIGHT_CDK_OUT_ECS", ROOT / "cdk/cdk.out.ecs"))
COMMIT = "0123456789abcdef0123456789abcdef01234567"

if not (ROOT / "cdk/package.json").exists() and "GREENLIGHT_CDK_OUT_ECS" not in os.environ:
    pytest.skip("no CDK app in cdk/ on this branch yet", allow_module_level=True)


@pytest.fixture(scope="module")
def template() -> dict:
    path = CDK_OUT / "Greenlight.template.json"
    assert path.is_file(), f"no {path}: synthesize the ECS engine first (scripts/ci/cdk.sh)"
    return json.loads(path.read_text())


def projects(template: dict) -> dict[str, dict]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::CodeBuild::Project"
    }


def variables(project: dict) -> dict[str, object]:
    return {v["Name"]: v["Value"] for v in project["Environment"]["EnvironmentVariables"]}


def deploy_project(template: dict) -> dict:
    found = [p for p in projects(template).values() if "IMAGE_TAG_PARAMETER" in variables(p)]
    assert len(found) == 1, "one Deploy project with IMAGE_TAG_PARAMETER"
    return found[0]


def build_project(template: dict) -> dict:
    found = [p for p in projects(template).values() if "TASK_FAMILY" in variables(p)]
    assert len(found) == 1, "one Build project with TASK_FAMILY"
    return found[0]


def test_the_deploy_project_reads_what_the_build_stage_writes(template):
    build_spec = yaml.safe_load((ROOT / "buildspec.yml").read_text())
    assert "imageDetail.json" in build_spec["artifacts"]["files"]
    build_sh = (ROOT / "scripts/ship/build.sh").read_text()
    # build.sh writes {"ImageURI": "$image"} with image=$repository:$commit.
    assert re.search(r'json\.dump\(\{"ImageURI": sys\.argv\[1\]\}', build_sh), "imageDetail.json's key"
    assert re.search(r'^repository=\$\{ECR_REPOSITORY_URI:-', build_sh, re.M), "the repository is ECR_REPOSITORY_URI"
    assert re.search(r'^image="\$repository:\$commit"$', build_sh, re.M), "the image URI is repository:commit"
    deploy = deploy_project(template)
    spec = yaml.safe_load(deploy["Source"]["BuildSpec"])
    script = "\n".join(spec["phases"]["build"]["commands"])
    assert "imageDetail.json" in script and '["ImageURI"]' in script
    # Both projects name the same repository.
    assert variables(deploy)["ECR_REPOSITORY_URI"] == variables(build_project(template))["ECR_REPOSITORY_URI"]


def test_the_parameter_it_sets_is_the_one_the_task_definition_runs(template):
    deploy = deploy_project(template)
    name = variables(deploy)["IMAGE_TAG_PARAMETER"]
    parameter = template["Parameters"][name]
    assert parameter["Default"] == ""
    # The tag build.sh pushes (the commit id) is allowed; a URI of another registry is not.
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch(COMMIT)
    assert not pattern.fullmatch("evil.example.com/greenlight:1")
    images = [
        c["Image"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::ECS::TaskDefinition"
        for c in r["Properties"]["ContainerDefinitions"]
        if {"Ref": name} in (c["Image"].get("Fn::Join", ["", []])[1] if isinstance(c["Image"], dict) else [])
    ]
    assert len(images) == 1, "one task definition runs the parameter's tag"
    # ...in the repository both projects name: <ECR_REPOSITORY_URI>:<tag>.
    repository = variables(deploy)["ECR_REPOSITORY_URI"]
    assert images[0] == {"Fn::Join": ["", [*repository["Fn::Join"][1], ":", {"Ref": name}]]}


def run_deploy(template: dict, tmp_path: Path, image: str, update_error: str = "") -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    """Runs the Deploy project's commands with imageDetail.json for `image` and a stand-in aws."""
    deploy = deploy_project(template)
    spec = yaml.safe_load(deploy["Source"]["BuildSpec"])
    script = "\n".join(spec["phases"]["build"]["commands"])
    calls = tmp_path / "calls.jsonl"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    aws = bin_dir / "aws"
    # A stand-in for the AWS CLI: DescribeStacks lists the stack's parameters, UpdateStack is
    # recorded (or fails with update_error), the waiter succeeds.
    aws.write_text(
        "#!/usr/bin/env python3\n"
        "import json, os, sys\n"
        "args = sys.argv[1:]\n"
        "open(os.environ['CALLS'], 'a').write(json.dumps(args) + '\\n')\n"
        "if args[:2] == ['cloudformation', 'describe-stacks']:\n"
        "    print(' '.join(os.environ['PARAMETERS'].split(',')))\n"
        "elif args[:2] == ['cloudformation', 'update-stack'] and os.environ.get('UPDATE_ERROR'):\n"
        "    print(os.environ['UPDATE_ERROR'], file=sys.stderr); sys.exit(254)\n"
    )
    aws.chmod(aws.stat().st_mode | stat.S_IEXEC)
    work = tmp_path / "artifact"
    work.mkdir()
    (work / "imageDetail.json").write_text(json.dumps({"ImageURI": image}))
    parameter = variables(deploy)["IMAGE_TAG_PARAMETER"]
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CALLS": str(calls),
        "PARAMETERS": f"BootstrapVersion,{parameter}",
        "UPDATE_ERROR": update_error,
        "STACK_NAME": "Greenlight",
        "IMAGE_TAG_PARAMETER": parameter,
        "ECR_REPOSITORY_URI": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/greenlight",
    }
    result = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True)
    recorded = [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []
    return result, recorded


def test_the_deploy_step_sets_the_tag_and_keeps_every_other_parameter(template, tmp_path):
    parameter = variables(deploy_project(template))["IMAGE_TAG_PARAMETER"]
    image = f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/greenlight:{COMMIT}"
    result, calls = run_deploy(template, tmp_path, image)
    assert result.returncode == 0, result.stderr
    update = next(c for c in calls if c[:2] == ["cloudformation", "update-stack"])
    assert "--use-previous-template" in update
    params = update[update.index("--parameters") + 1:]
    assert f"ParameterKey={parameter},ParameterValue={COMMIT}" in params
    assert "ParameterKey=BootstrapVersion,UsePreviousValue=true" in params
    assert ["cloudformation", "wait", "stack-update-complete", "--stack-name", "Greenlight"] in calls


def test_the_deploy_step_refuses_an_image_of_another_repository(template, tmp_path):
    result, calls = run_deploy(template, tmp_path, f"public.ecr.aws/someone/else:{COMMIT}")
    assert result.returncode != 0
    assert "is not an image of" in result.stderr
    assert not any(c[:2] == ["cloudformation", "update-stack"] for c in calls)


def test_the_same_image_again_is_no_failure(template, tmp_path):
    image = f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/greenlight:{COMMIT}"
    result, calls = run_deploy(template, tmp_path, image, update_error="An error occurred (ValidationError) when calling the UpdateStack operation: No updates are to be performed.")
    assert result.returncode == 0, result.stderr
    assert "already runs" in result.stdout
    assert not any(c[:2] == ["cloudformation", "wait"] for c in calls)

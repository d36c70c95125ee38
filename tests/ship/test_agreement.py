"""The agreement checks (agreement.py) and render.py --from-template, on a hand-written stand-in
for a synthesized stack: they pass when every shared value agrees and name each one that does not."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from agreement import disagreements
from ship_support import ROOT

FIXTURE = Path(__file__).parent / "fixtures/cdk.out/Greenlight.template.json"


def load() -> dict:
    return json.loads(FIXTURE.read_text())


def check(templates: dict[str, dict], tmp_path: Path) -> list[str]:
    cdk_out, out = tmp_path / "cdk.out", tmp_path / "rendered"
    cdk_out.mkdir()
    for name, template in templates.items():
        (cdk_out / f"{name}.template.json").write_text(json.dumps(template))
    pipeline = next(n for n, t in templates.items() if "BuildProject097C5DB7" in t["Resources"])
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/ship/render.py"),
         "--from-template", str(cdk_out / f"{pipeline}.template.json"),
         "--out", str(out), "--commit", "0123abcd"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    return disagreements(cdk_out, out)


def container(template: dict) -> dict:
    return template["Resources"]["TaskDef54694570"]["Properties"]["ContainerDefinitions"][0]


def codebuild_env(template: dict) -> dict:
    variables = template["Resources"]["BuildProject097C5DB7"]["Properties"]["Environment"]
    return {v["Name"]: v for v in variables["EnvironmentVariables"]}


def test_agreeing_stack_has_no_disagreement(tmp_path):
    assert check({"Greenlight": load()}, tmp_path) == []


def test_intrinsics_are_rendered_as_their_json_text(tmp_path):
    check({"Greenlight": load()}, tmp_path)
    taskdef = json.loads((tmp_path / "rendered/taskdef.json").read_text())
    assert taskdef["executionRoleArn"] == '{"Fn::GetAtt":["TaskDefExecutionRoleB4775C97","Arn"]}'
    (c,) = taskdef["containerDefinitions"]
    assert c["secrets"] == [{"name": "OPENAI_API_KEY", "valueFrom": '{"Ref":"ApiKeySecret1E5F4C5D"}'}]
    assert c["logConfiguration"]["options"]["awslogs-region"] == '{"Ref":"AWS::Region"}'
    env = {e["name"]: e["value"] for e in c["environment"]}
    assert "OPENAI_BASE_URL" not in env  # empty in the project: no entry at all
    assert env["IMAGE_URI"] == '{"Fn::GetAtt":["Repo02AC86CF","RepositoryUri"]}:0123abcd'
    appspec = (tmp_path / "rendered/appspec.yaml").read_text()
    assert 'AfterAllowTestTraffic: "{\\"Ref\\":\\"HookFunction9D5A1E60\\"}"' in appspec


def mutated(change) -> dict:
    template = copy.deepcopy(load())
    change(template)
    return template


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda t: container(t).update(StopTimeout=30), "stopTimeout: rendered 35 but the CDK app has 30"),
        (lambda t: container(t).update(Name="web"), "should have the one container 'greenlight', has ['web']"),
        (lambda t: container(t).update(User="1000"), "user: rendered 65532:65532 but the CDK app has 1000"),
        (lambda t: container(t)["LogConfiguration"]["Options"].update({"awslogs-region": {"Ref": "Other"}}), "awslogs-region"),
        (lambda t: container(t)["HealthCheck"].update(Command=["CMD-SHELL", "curl -f localhost"]), "healthCheck.command"),
        (lambda t: container(t)["HealthCheck"].update(Interval=30), "healthCheck.interval: rendered 5 but the CDK app has 30"),
        (lambda t: container(t).update(Secrets=[]), "secrets"),
        (lambda t: container(t).update(ReadonlyRootFilesystem=False), "readonlyRootFilesystem"),
        (lambda t: container(t)["LogConfiguration"]["Options"].update({"awslogs-stream-prefix": "app"}), "awslogs-stream-prefix"),
        (lambda t: container(t)["Environment"].__setitem__(3, {"Name": "DRAIN_SECONDS", "Value": "10"}), "environment DRAIN_SECONDS"),
        (lambda t: next(e for e in container(t)["Environment"] if e["Name"] == "METRICS_EMF").update(Value="false"), "environment METRICS_EMF"),
        # The alarms and scaling read the metrics of the service dimension the CDK app sets.
        (lambda t: next(e for e in container(t)["Environment"] if e["Name"] == "METRICS_EMF_SERVICE").update(Value="other"), "environment METRICS_EMF_SERVICE"),
        (lambda t: container(t)["PortMappings"][0].update(ContainerPort=3000), "container ports"),
        (lambda t: t["Resources"]["TaskDef54694570"]["Properties"].update(TaskRoleArn={"Fn::GetAtt": ["OtherRole", "Arn"]}), "taskRoleArn"),
        (lambda t: t["Resources"]["TaskDef54694570"]["Properties"].update(Family="greenlight-v2"), "expected one AWS::ECS::TaskDefinition of family 'greenlight' (TASK_FAMILY), found families ['greenlight-v2']"),
        (lambda t: t["Resources"]["Green5E6F7A8B"]["Properties"].update(Port=80), "Green5E6F7A8B Port"),
        (lambda t: t["Resources"]["Blue1A2B3C4D"]["Properties"].update(TargetGroupAttributes=[]), "Blue1A2B3C4D deregistration delay 300, contract says 30"),
        (lambda t: t["Resources"]["Blue1A2B3C4D"]["Properties"].update(TargetGroupAttributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "10"}]), "deregistration delay 10 < DRAIN_SECONDS 25"),
        (lambda t: t["Resources"]["Service9571FDD8"]["Properties"]["LoadBalancers"][0].update(ContainerPort=80), "LoadBalancers ContainerPort"),
        (lambda t: codebuild_env(t)["HOOK_FUNCTION_NAME"].update(Value={"Ref": "TaskRole30FC0FBB"}), "is no Ref to an AWS::Lambda::Function"),
        (lambda t: codebuild_env(t)["LOG_GROUP_NAME"].update(Value="/greenlight/other"), "awslogs-group"),
    ],
)
def test_each_disagreement_is_named(tmp_path, change, expected):
    problems = check({"Greenlight": mutated(change)}, tmp_path)
    assert any(expected in p for p in problems), problems


def test_other_task_definition_families_are_left_alone(tmp_path):
    # e.g. the bootstrap task definition the service is first created with (another image).
    template = load()
    bootstrap = copy.deepcopy(template["Resources"]["TaskDef54694570"])
    bootstrap["Properties"]["Family"] = "greenlight-bootstrap"
    bootstrap["Properties"]["ContainerDefinitions"][0]["HealthCheck"]["Command"] = ["CMD", "true"]
    template["Resources"]["BootstrapTaskDef"] = bootstrap
    assert check({"Greenlight": template}, tmp_path) == []


def test_values_imported_from_another_stack_are_resolved(tmp_path):
    # A multi-stack app hands the pipeline stack the service's values through exports.
    service, pipeline = load(), load()
    exports = {}
    for name in ("TASK_EXECUTION_ROLE_ARN", "TASK_ROLE_ARN", "LOG_GROUP_NAME"):
        variable = codebuild_env(pipeline)[name]
        export = f"GreenlightService:Export{name}"
        exports[name] = {"Value": variable["Value"], "Export": {"Name": export}}
        variable["Value"] = {"Fn::ImportValue": export}
    service["Outputs"] = exports
    del service["Resources"]["BuildProject097C5DB7"]
    pipeline["Resources"] = {
        k: v for k, v in pipeline["Resources"].items()
        if k in ("BuildProject097C5DB7", "HookFunction9D5A1E60", "Repo02AC86CF")
    }
    del service["Resources"]["HookFunction9D5A1E60"]
    assert check({"GreenlightService": service, "GreenlightPipeline": pipeline}, tmp_path) == []


def test_a_template_without_the_codebuild_project_is_a_clear_error(tmp_path):
    template = load()
    del template["Resources"]["BuildProject097C5DB7"]
    path = tmp_path / "Other.template.json"
    path.write_text(json.dumps(template))
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/ship/render.py"), "--from-template", str(path),
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert "expected exactly one AWS::CodeBuild::Project with a TASK_FAMILY" in result.stderr


def test_secret_given_as_a_secrets_manager_reference_is_refused(tmp_path):
    template = load()
    codebuild_env(template)["OPENAI_API_KEY_SECRET_ARN"]["Type"] = "SECRETS_MANAGER"
    path = tmp_path / "Greenlight.template.json"
    path.write_text(json.dumps(template))
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/ship/render.py"), "--from-template", str(path),
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert "OPENAI_API_KEY_SECRET_ARN" in result.stderr and "PLAINTEXT" in result.stderr

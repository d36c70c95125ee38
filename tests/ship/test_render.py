"""scripts/ship/render.py from environment variables: what CodeBuild runs."""

from __future__ import annotations

import json
import subprocess
import sys

import botocore.session
import pytest
import yaml
from botocore.validate import ParamValidator
from ship_support import ROOT, render


def rendered(env: dict[str, str], tmp_path) -> tuple[dict, dict]:
    render.render(render.values_from_env(env), tmp_path)
    taskdef = json.loads((tmp_path / "taskdef.json").read_text())
    appspec = yaml.safe_load((tmp_path / "appspec.yaml").read_text())
    return taskdef, appspec


def container(taskdef: dict) -> dict:
    (only,) = taskdef["containerDefinitions"]
    return only


def environment(taskdef: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(taskdef)["environment"]}


def test_taskdef_is_a_valid_ecs_register_task_definition_request(env, tmp_path):
    # The same shape check botocore applies before it sends RegisterTaskDefinition, so a key typo
    # or a string where ECS wants an integer fails here, not in the pipeline.
    env["OPENAI_API_KEY_SECRET_ARN"] = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbC"
    taskdef, _ = rendered(env, tmp_path)
    model = botocore.session.get_session().get_service_model("ecs")
    shape = model.operation_model("RegisterTaskDefinition").input_shape
    report = ParamValidator().validate(taskdef, shape)
    assert not report.has_errors(), report.generate_report()


def test_taskdef_carries_the_contract_values(env, tmp_path):
    taskdef, _ = rendered(env, tmp_path)
    c = container(taskdef)
    assert taskdef["family"] == "greenlight"
    assert taskdef["networkMode"] == "awsvpc"
    assert taskdef["requiresCompatibilities"] == ["FARGATE"]
    assert (taskdef["cpu"], taskdef["memory"]) == ("256", "512")
    assert taskdef["runtimePlatform"] == {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"}
    assert taskdef["executionRoleArn"] == env["TASK_EXECUTION_ROLE_ARN"]
    assert taskdef["taskRoleArn"] == env["TASK_ROLE_ARN"]
    assert c["name"] == "greenlight"
    assert c["image"] == "<IMAGE1_NAME>"  # for the CodeDeploy action, never a rendered value
    assert c["essential"] is True
    assert c["portMappings"] == [{"containerPort": 8080, "protocol": "tcp"}]
    assert c["healthCheck"] == {
        "command": ["CMD", "/greenlight", "healthcheck"],
        "interval": 5,
        "timeout": 2,
        "retries": 3,
        "startPeriod": 10,
    }
    assert c["stopTimeout"] == 35
    assert c["readonlyRootFilesystem"] is True
    assert c["user"] == "65532:65532"
    assert c["linuxParameters"] == {"capabilities": {"drop": ["ALL"]}}
    assert {"name": "nofile", "softLimit": 65536, "hardLimit": 65536} in c["ulimits"]
    assert c["logConfiguration"] == {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": "/greenlight/chatbot",
            "awslogs-region": "eu-west-1",
            "awslogs-stream-prefix": "greenlight",
        },
    }
    assert environment(taskdef) == {
        "HOST": "0.0.0.0",
        "PORT": "8080",
        "LLM_PROVIDER": "offline",
        "AWS_REGION": "eu-west-1",
        "DRAIN_SECONDS": "25",
        "GIT_COMMIT": env["GIT_COMMIT"],
        "IMAGE_URI": f"{env['ECR_REPOSITORY_URI']}:{env['GIT_COMMIT']}",
        "LOG_FORMAT": "json",
        "METRICS_EMF": "true",
        "METRICS_EMF_SERVICE": env["TASK_FAMILY"],
    }


def test_no_secret_arn_means_no_secrets_entry(env, tmp_path):
    env["OPENAI_API_KEY_SECRET_ARN"] = ""
    taskdef, _ = rendered(env, tmp_path)
    assert "secrets" not in container(taskdef)


def test_secret_and_openai_settings_are_passed_through(env, tmp_path):
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:greenlight/openai-AbCdEf"
    env |= {
        "LLM_PROVIDER": "openai",
        "LLM_MODEL": "gpt-4o-mini",
        "OPENAI_BASE_URL": "https://api.example.test/v1",
        "OPENAI_API_KEY_SECRET_ARN": arn,
    }
    taskdef, _ = rendered(env, tmp_path)
    assert container(taskdef)["secrets"] == [{"name": "OPENAI_API_KEY", "valueFrom": arn}]
    assert environment(taskdef)["LLM_MODEL"] == "gpt-4o-mini"
    assert environment(taskdef)["OPENAI_BASE_URL"] == "https://api.example.test/v1"


def test_appspec_names_container_port_and_hook(env, tmp_path):
    _, appspec = rendered(env, tmp_path)
    assert appspec["version"] == 0.0
    (resource,) = appspec["Resources"]
    service = resource["TargetService"]
    assert service["Type"] == "AWS::ECS::Service"
    assert service["Properties"]["TaskDefinition"] == "<TASK_DEFINITION>"
    assert service["Properties"]["LoadBalancerInfo"] == {
        "ContainerName": "greenlight",
        "ContainerPort": 8080,
    }
    assert appspec["Hooks"] == [{"AfterAllowTestTraffic": "greenlight-hook"}]


def test_values_with_quotes_stay_json_and_yaml_safe(env, tmp_path):
    tricky = 'hook"name\\with: yaml # and json'
    env |= {"HOOK_FUNCTION_NAME": tricky, "LLM_MODEL": 'model "x"\n'}
    taskdef, appspec = rendered(env, tmp_path)
    assert appspec["Hooks"] == [{"AfterAllowTestTraffic": tricky}]
    assert environment(taskdef)["LLM_MODEL"] == 'model "x"\n'


def test_every_missing_variable_is_named(env, tmp_path):
    for name in ("TASK_FAMILY", "HOOK_FUNCTION_NAME", "LOG_GROUP_NAME"):
        env.pop(name)
    with pytest.raises(render.RenderError) as err:
        rendered(env, tmp_path)
    for name in ("TASK_FAMILY", "HOOK_FUNCTION_NAME", "LOG_GROUP_NAME"):
        assert name in str(err.value)
    assert not (tmp_path / "taskdef.json").exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"STOP_TIMEOUT_SECONDS": "25"}, "STOP_TIMEOUT_SECONDS (25) must be greater than DRAIN_SECONDS (25)"),
        ({"STOP_TIMEOUT_SECONDS": "121"}, "STOP_TIMEOUT_SECONDS must be between 2 and 120"),
        ({"CONTAINER_PORT": "http"}, "CONTAINER_PORT must be an integer between 1 and 65535"),
        ({"CPU_ARCHITECTURE": "arm64"}, "CPU_ARCHITECTURE must be one of X86_64, ARM64"),
        ({"LLM_PROVIDER": "gpt"}, "LLM_PROVIDER must be one of offline, openai, bedrock"),
        ({"OPENAI_API_KEY_SECRET_ARN": "sk-123"}, "OPENAI_API_KEY_SECRET_ARN must be a Secrets Manager ARN"),
        ({"LLM_PROVIDER": "openai"}, "LLM_PROVIDER=openai needs OPENAI_API_KEY_SECRET_ARN"),
    ],
)
def test_bad_values_are_rejected_with_the_limit(env, tmp_path, changes, message):
    with pytest.raises(render.RenderError, match=message.replace("(", r"\(").replace(")", r"\)")):
        rendered(env | changes, tmp_path)


def test_cli_exits_non_zero_naming_the_variable(env, tmp_path):
    env.pop("TASK_ROLE_ARN")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/ship/render.py"), "--out", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "missing environment variable(s): TASK_ROLE_ARN" in result.stderr


def test_codebuild_commit_is_used_when_no_git_commit(env, tmp_path):
    env.pop("GIT_COMMIT")
    env["CODEBUILD_RESOLVED_SOURCE_VERSION"] = "feedface" * 5
    taskdef, _ = rendered(env, tmp_path)
    assert environment(taskdef)["GIT_COMMIT"] == "feedface" * 5
    assert environment(taskdef)["IMAGE_URI"].endswith(":" + "feedface" * 5)

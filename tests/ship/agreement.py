"""Does what render.py makes from a synthesized CDK app agree with that app's own resources?

``disagreements(cdk_out, rendered)`` compares the taskdef.json and appspec.yaml rendered from the
CodeBuild project's environment (``render.py --from-template``) with the task definition, service,
target groups, log group, secrets and hook Lambda the same cloud assembly creates, and returns one
message per disagreement (an empty list when everything agrees). Values CloudFormation resolves at
deploy time are compared as their canonical JSON text (render.canonical), so the same
``{"Fn::GetAtt": ["TaskRole...", "Arn"]}`` on both sides agrees and any other reference does not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ship_support import render

CONTRACT_HEALTH_CHECK = ["CMD", "/greenlight", "healthcheck"]
CONTRACT_DEREGISTRATION_DELAY = 30
DEREGISTRATION_KEY = "deregistration_delay.timeout_seconds"


@dataclass
class Resource:
    stack: str
    logical_id: str
    properties: dict[str, Any]


class Assembly:
    """Every top-level template of a cdk.out directory, searchable by resource type."""

    def __init__(self, cdk_out: Path):
        self.templates = {
            p.name.removesuffix(".template.json"): json.loads(p.read_text())
            for p in sorted(cdk_out.glob("*.template.json"))
        }
        self.exports = {}
        for template in self.templates.values():
            for output in (template.get("Outputs") or {}).values():
                name = (output.get("Export") or {}).get("Name")
                if isinstance(name, str):
                    self.exports[name] = output.get("Value")

    def of_type(self, kind: str) -> list[Resource]:
        return [
            Resource(stack, logical_id, resource.get("Properties") or {})
            for stack, template in self.templates.items()
            for logical_id, resource in (template.get("Resources") or {}).items()
            if resource.get("Type") == kind
        ]

    def resolve(self, value: Any) -> Any:
        return render.resolve_imports(value, self.exports)

    def template_with_codebuild_project(self) -> Path | None:
        for stack, template in self.templates.items():
            try:
                render.codebuild_environment(template)
            except render.RenderError:
                continue
            return Path(stack + ".template.json")
        return None


def text(value: Any) -> str:
    return render.canonical(value)


def same_region(ours: Any, theirs: Any) -> bool:
    """Regions agree when equal, or when one is {"Ref": "AWS::Region"} and the other a literal:
    CDK writes a stack's region as a literal once it knows it, and a stack deploys in its region."""
    if text(ours) == text(theirs):
        return True
    pseudo = {"Ref": "AWS::Region"}
    return (ours == pseudo and isinstance(theirs, str) and bool(theirs)) or (
        theirs == pseudo and isinstance(ours, str) and bool(ours)
    )


def dockerfile_user() -> str | None:
    for line in (render.ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("USER "):
            return line.split(None, 1)[1].strip()
    return None


def parsed(rendered_value: str) -> Any:
    """A rendered string back to the intrinsic it is the canonical text of (or the string)."""
    if rendered_value.startswith("{"):
        try:
            return json.loads(rendered_value)
        except json.JSONDecodeError:
            pass
    return rendered_value


def disagreements(cdk_out: Path, rendered: Path) -> list[str]:
    cdk = Assembly(cdk_out)
    taskdef = json.loads((rendered / "taskdef.json").read_text())
    appspec = yaml.safe_load((rendered / "appspec.yaml").read_text())
    env_values = render.values_from_template(
        cdk_out / (cdk.template_with_codebuild_project() or Path("missing.template.json")),
        commit="check",
    )
    problems: list[str] = []

    def expect(what: str, ours: Any, theirs: Any) -> None:
        if text(ours) != text(theirs):
            problems.append(f"{what}: rendered {text(ours)} but the CDK app has {text(theirs)}")

    (container,) = taskdef["containerDefinitions"]
    name, port = container["name"], container["portMappings"][0]["containerPort"]
    load_balancer = appspec["Resources"][0]["TargetService"]["Properties"]["LoadBalancerInfo"]
    expect("appspec ContainerName vs taskdef container name", load_balancer["ContainerName"], name)
    expect("appspec ContainerPort vs taskdef containerPort", load_balancer["ContainerPort"], port)

    # --- the ECS task definition the CDK app registers first --------------------------------
    # The app may hold other task definitions (e.g. a bootstrap one the service is created with):
    # the one to agree with is the family CodeBuild registers revisions of.
    task_definitions = [
        td
        for td in cdk.of_type("AWS::ECS::TaskDefinition")
        if text(td.properties.get("Family")) == taskdef["family"]
    ]
    if len(task_definitions) != 1:
        found = [text(td.properties.get("Family")) for td in cdk.of_type("AWS::ECS::TaskDefinition")]
        return problems + [
            f"expected one AWS::ECS::TaskDefinition of family {taskdef['family']!r} "
            f"(TASK_FAMILY), found families {found}"
        ]
    containers = task_definitions[0].properties.get("ContainerDefinitions", [])
    if [c.get("Name") for c in containers] != [name]:
        return problems + [
            f"the task definition of family {taskdef['family']!r} should have the one container "
            f"{name!r}, has {[c.get('Name') for c in containers]}"
        ]
    td = task_definitions[0].properties
    (cdk_container,) = containers

    expect("executionRoleArn", taskdef["executionRoleArn"], td.get("ExecutionRoleArn"))
    expect("taskRoleArn", taskdef["taskRoleArn"], td.get("TaskRoleArn"))
    expect("cpu", taskdef["cpu"], td.get("Cpu"))
    expect("memory", taskdef["memory"], td.get("Memory"))
    expect("networkMode", taskdef["networkMode"], td.get("NetworkMode"))
    expect("requiresCompatibilities", taskdef["requiresCompatibilities"], td.get("RequiresCompatibilities"))
    platform = td.get("RuntimePlatform") or {}
    expect(
        "runtimePlatform.cpuArchitecture",
        taskdef["runtimePlatform"]["cpuArchitecture"],
        platform.get("CpuArchitecture", "X86_64"),  # ECS's default when the CDK app sets none
    )
    expect(
        "container ports",
        [port],
        [m.get("ContainerPort") for m in cdk_container.get("PortMappings", [])],
    )

    health = cdk_container.get("HealthCheck") or {}
    expect("healthCheck.command", container["healthCheck"]["command"], health.get("Command"))
    expect("healthCheck.command vs contract", container["healthCheck"]["command"], CONTRACT_HEALTH_CHECK)
    for ours, theirs in (("interval", "Interval"), ("timeout", "Timeout"), ("retries", "Retries"),
                         ("startPeriod", "StartPeriod")):
        expect(f"healthCheck.{ours}", container["healthCheck"][ours], health.get(theirs))

    expect("stopTimeout", container["stopTimeout"], cdk_container.get("StopTimeout"))
    expect("readonlyRootFilesystem", container["readonlyRootFilesystem"],
           cdk_container.get("ReadonlyRootFilesystem", False))
    # No user in the CDK app's task definition means the image's USER, which the Dockerfile sets.
    expect("user", container["user"], cdk_container.get("User") or dockerfile_user())

    log_options = (cdk_container.get("LogConfiguration") or {}).get("Options") or {}
    ours_log = container["logConfiguration"]["options"]
    expect("log driver", container["logConfiguration"]["logDriver"],
           (cdk_container.get("LogConfiguration") or {}).get("LogDriver"))
    for key in ("awslogs-group", "awslogs-stream-prefix"):
        expect(key, ours_log[key], log_options.get(key))
    if not same_region(parsed(ours_log["awslogs-region"]), log_options.get("awslogs-region")):
        expect("awslogs-region", ours_log["awslogs-region"], log_options.get("awslogs-region"))
    group = parsed(ours_log["awslogs-group"])
    if isinstance(group, dict) and "Ref" in group:
        if group["Ref"] not in {r.logical_id for r in cdk.of_type("AWS::Logs::LogGroup")}:
            problems.append(f"awslogs-group refers to {group['Ref']}, which is no AWS::Logs::LogGroup")

    ours_secrets = {s["name"]: s["valueFrom"] for s in container.get("secrets", [])}
    theirs_secrets = {s.get("Name"): text(s.get("ValueFrom")) for s in cdk_container.get("Secrets", [])}
    expect("secrets", ours_secrets, theirs_secrets)

    # Environment both set: the first (CDK) revision and every pipeline revision must run alike.
    ours_env = {e["name"]: e["value"] for e in container.get("environment", [])}
    theirs_env = {e.get("Name"): text(e.get("Value")) for e in cdk_container.get("Environment", [])}
    for key in sorted((set(ours_env) & set(theirs_env)) - {"GIT_COMMIT", "IMAGE_URI"}):
        expect(f"environment {key}", ours_env[key], theirs_env[key])
    for key in ("HOST", "PORT", "LLM_PROVIDER", "DRAIN_SECONDS", "METRICS_EMF", "METRICS_EMF_SERVICE"):
        if key in theirs_env and key not in ours_env:
            problems.append(f"environment {key}: the CDK app sets it, the rendered taskdef does not")

    # --- the service, the target groups and the drain timings --------------------------------
    for service in cdk.of_type("AWS::ECS::Service"):
        for lb in service.properties.get("LoadBalancers", []):
            expect(f"{service.logical_id} LoadBalancers ContainerName", name, lb.get("ContainerName"))
            expect(f"{service.logical_id} LoadBalancers ContainerPort", port, lb.get("ContainerPort"))
    target_groups = [
        tg for tg in cdk.of_type("AWS::ElasticLoadBalancingV2::TargetGroup")
        if tg.properties.get("TargetType") == "ip"
    ]
    if len(target_groups) < 2:
        problems.append(f"expected blue and green ip target groups, found {len(target_groups)}")
    drain = int(str(env_values["DRAIN_SECONDS"]))
    stop = container["stopTimeout"]
    if stop <= drain:
        problems.append(f"stopTimeout {stop} must exceed DRAIN_SECONDS {drain}")
    for tg in target_groups:
        expect(f"{tg.logical_id} Port", port, tg.properties.get("Port"))
        expect(f"{tg.logical_id} HealthCheckPath", "/health", tg.properties.get("HealthCheckPath"))
        attributes = {a.get("Key"): a.get("Value") for a in tg.properties.get("TargetGroupAttributes", [])}
        delay = int(attributes.get(DEREGISTRATION_KEY, 300))  # the ALB's default: 300 s
        if delay != CONTRACT_DEREGISTRATION_DELAY:
            problems.append(f"{tg.logical_id} deregistration delay {delay}, contract says 30")
        if delay < drain:
            # docs/contract.md: the ALB keeps a deregistered target's open streams for the delay,
            # then SIGTERM gives them DRAIN_SECONDS more; a delay shorter than the drain window
            # would cut streams the server still means to finish.
            problems.append(f"{tg.logical_id} deregistration delay {delay} < DRAIN_SECONDS {drain}")

    # --- the hook ------------------------------------------------------------------------------
    hook = appspec["Hooks"][0].get("AfterAllowTestTraffic")
    hook_value = parsed(hook)
    lambdas = cdk.of_type("AWS::Lambda::Function")
    if isinstance(hook_value, dict):
        ref = hook_value.get("Ref")
        if ref not in {f.logical_id for f in lambdas}:
            problems.append(f"hook {hook} is no Ref to an AWS::Lambda::Function of the app")
    elif hook_value not in {f.properties.get("FunctionName") for f in lambdas}:
        problems.append(f"hook function {hook_value!r} is not the FunctionName of any Lambda in the app")

    return problems

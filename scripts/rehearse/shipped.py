"""The cutover timings the CDK app ships, read from its synthesized templates (cdk/cdk.out).

The rehearsal runs with these values (optionally scaled down by an explicit factor it reports), so
it proves the settings a deployment really gets, not a copy of them: the blue/green target groups'
deregistration delay and health check, the container's stopTimeout and DRAIN_SECONDS, and the
CodeDeploy deployment configuration (canary percentage and interval) and blue termination wait.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

DEREGISTRATION_KEY = "deregistration_delay.timeout_seconds"
# CodeDeploy's predefined ECS configurations, e.g. CodeDeployDefault.ECSCanary10Percent5Minutes.
PREDEFINED_CONFIG = re.compile(r"ECS(?:Canary|Linear)(\d+)Percent(?:Every)?(\d+)Minutes?")


class ShippedError(Exception):
    """The templates do not say what the rehearsal needs."""


@dataclass(frozen=True)
class Timings:
    deregistration_delay_s: float
    drain_s: float
    stop_timeout_s: float
    health_path: str
    health_interval_s: float
    health_timeout_s: float
    healthy_threshold: int
    unhealthy_threshold: int
    # The traffic shift: None when the app shifts all at once.
    canary_percent: int | None
    canary_interval_s: float | None
    termination_wait_s: float | None

    def scaled(self, factor: float) -> "Timings":
        """Every duration times `factor` (thresholds and percentages unchanged). DRAIN_SECONDS
        and the stop timeout are whole seconds for the server and ECS, so they are rounded up."""
        def s(v: float | None) -> float | None:
            return None if v is None else v * factor
        return Timings(
            deregistration_delay_s=self.deregistration_delay_s * factor,
            drain_s=float(max(1, math.ceil(self.drain_s * factor))),
            stop_timeout_s=float(max(2, math.ceil(self.stop_timeout_s * factor))),
            health_path=self.health_path,
            health_interval_s=self.health_interval_s * factor,
            health_timeout_s=self.health_timeout_s * factor,
            healthy_threshold=self.healthy_threshold,
            unhealthy_threshold=self.unhealthy_threshold,
            canary_percent=self.canary_percent,
            canary_interval_s=s(self.canary_interval_s),
            termination_wait_s=s(self.termination_wait_s),
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _resources(cdk_out: Path) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(cdk_out.glob("*.template.json")):
        template = json.loads(path.read_text())
        for resource in (template.get("Resources") or {}).values():
            found.append((resource.get("Type", ""), resource.get("Properties") or {}))
    return found


def _one(values: set[Any], what: str) -> Any:
    if len(values) != 1:
        raise ShippedError(f"expected one value of {what} in the templates, found {sorted(map(str, values))}")
    return next(iter(values))


def read(cdk_out: Path) -> Timings:
    resources = _resources(cdk_out)
    if not resources:
        raise ShippedError(f"no synthesized templates in {cdk_out}: run `cdk synth` in cdk/")

    groups = [p for t, p in resources if t == "AWS::ElasticLoadBalancingV2::TargetGroup" and p.get("TargetType") == "ip"]
    if len(groups) < 2:
        raise ShippedError(f"expected the blue and green ip target groups, found {len(groups)}")

    def attr(p: dict[str, Any]) -> int:
        attributes = {a.get("Key"): a.get("Value") for a in p.get("TargetGroupAttributes", [])}
        return int(attributes.get(DEREGISTRATION_KEY, 300))  # the ALB's default

    containers = [
        c
        for t, p in resources
        if t == "AWS::ECS::TaskDefinition"
        for c in p.get("ContainerDefinitions", [])
        if any(e.get("Name") == "DRAIN_SECONDS" for e in c.get("Environment", []))
    ]
    if not containers:
        raise ShippedError("no task definition container with DRAIN_SECONDS in the templates")

    canary_percent = canary_interval = termination_wait = None
    for t, p in resources:
        if t == "AWS::CodeDeploy::DeploymentConfig":
            shift = (p.get("TrafficRoutingConfig") or {})
            routing = shift.get("TimeBasedCanary") or shift.get("TimeBasedLinear")
            if routing:
                canary_percent = int(routing["CanaryPercentage" if "CanaryPercentage" in routing else "LinearPercentage"])
                canary_interval = 60.0 * int(routing.get("CanaryInterval", routing.get("LinearInterval", 0)))
        if t == "AWS::CodeDeploy::DeploymentGroup":
            name = p.get("DeploymentConfigName")
            if isinstance(name, str) and (m := PREDEFINED_CONFIG.search(name)):
                canary_percent, canary_interval = int(m.group(1)), 60.0 * int(m.group(2))
            wait = (((p.get("BlueGreenDeploymentConfiguration") or {}).get("TerminateBlueInstancesOnDeploymentSuccess") or {})
                    .get("TerminationWaitTimeInMinutes"))
            if wait is not None:
                termination_wait = 60.0 * int(wait)

    return Timings(
        deregistration_delay_s=float(_one({attr(g) for g in groups}, "the deregistration delay")),
        drain_s=float(_one({int(e["Value"]) for c in containers for e in c["Environment"] if e.get("Name") == "DRAIN_SECONDS"}, "DRAIN_SECONDS")),
        stop_timeout_s=float(_one({int(c.get("StopTimeout", 30)) for c in containers}, "StopTimeout")),
        health_path=_one({g.get("HealthCheckPath", "/") for g in groups}, "HealthCheckPath"),
        health_interval_s=float(_one({int(g.get("HealthCheckIntervalSeconds", 30)) for g in groups}, "HealthCheckIntervalSeconds")),
        health_timeout_s=float(_one({int(g.get("HealthCheckTimeoutSeconds", 5)) for g in groups}, "HealthCheckTimeoutSeconds")),
        healthy_threshold=_one({int(g.get("HealthyThresholdCount", 5)) for g in groups}, "HealthyThresholdCount"),
        unhealthy_threshold=_one({int(g.get("UnhealthyThresholdCount", 2)) for g in groups}, "UnhealthyThresholdCount"),
        canary_percent=canary_percent,
        canary_interval_s=canary_interval,
        termination_wait_s=termination_wait,
    )


if __name__ == "__main__":
    import sys

    print(json.dumps(read(Path(sys.argv[1] if len(sys.argv) > 1 else "cdk/cdk.out")).as_dict(), indent=2))

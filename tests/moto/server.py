"""A local moto server for the green-light hook's tests, plus the calls moto lacks.

moto (5.x) does not implement CodeDeploy's PutLifecycleEventHookExecutionStatus: it answers
500 NotImplemented. This launcher adds that operation to moto's CodeDeploy responses so the hook's
real Rust SDK client can report to it:

- a status for an unknown deployment -> DeploymentDoesNotExistException (as AWS does);
- the first status of a (deployment, execution) is recorded, in memory and as a line of the
  deployment's `deploymentStatusMessages` (so GetDeployment shows it);
- a second status for the same execution -> LifecycleEventAlreadyCompletedException (as AWS does);
- `POST /_greenlight/throttle?deployment=ID&count=N` makes the next N report calls for that
  deployment fail with ThrottlingException (per deployment, so parallel tests do not interfere);
- `GET /_greenlight/reports` returns the recorded statuses and, per deployment, the count of
  report calls and of throttled ones.

moto (5.2) has no ECS service revisions or service deployments either (native blue/green,
2024-2025): DescribeServiceRevisions and ListServiceDeployments answer 500 NotImplemented. The
launcher records them the way ECS does, so the hook's ECS engine reads them through the real SDK:

- CreateService and UpdateService (moto's own) also record a service revision (the service's task
  definition and its containers' images, `arn:aws:ecs:<region>:<account>:service-revision/
  <cluster>/<service>/<number>`) and a service deployment targeting it;
- ListServiceDeployments (service, cluster) lists the service's deployments, newest first, with
  their targetServiceRevisionArn (ServiceNotFoundException for an unknown service);
- DescribeServiceRevisions (1 to 20 ARNs) answers the known ones under `serviceRevisions` and
  lists the others under `failures` with reason MISSING, as ECS does for an ARN it does not know;
  an empty list, more than 20 ARNs, or a string that is not a service revision ARN is an
  InvalidParameterException.

Usage: python tests/moto/server.py [--port 0] [--exit-on-stdin-eof]; prints `PORT <n>` on stdout
once it listens. With --exit-on-stdin-eof it exits when its stdin closes, so a test process that
dies without cleaning up does not leave it running.
"""

import argparse
import itertools
import json
import os
import re
import sys
import threading
import time

from moto.codedeploy import models as codedeploy_models
from moto.codedeploy.exceptions import CodeDeployException
from moto.codedeploy.responses import CodeDeployResponse
from moto.ecs.exceptions import InvalidParameterException
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

_lock = threading.Lock()
# reports: recorded statuses; calls/throttled: report calls per deployment id;
# throttle: deployment id -> how many more of its report calls to throttle.
_state = {"reports": [], "calls": {}, "throttled": {}, "throttle": {}}


class _Error(CodeDeployException):
    code = 400

    def __init__(self, kind: str, message: str):
        super().__init__(kind, message)


def put_lifecycle_event_hook_execution_status(self):
    deployment_id = self._get_param("deploymentId")
    execution_id = self._get_param("lifecycleEventHookExecutionId")
    status = self._get_param("status")
    with _lock:
        _state["calls"][deployment_id] = _state["calls"].get(deployment_id, 0) + 1
        if _state["throttle"].get(deployment_id, 0) > 0:
            _state["throttle"][deployment_id] -= 1
            _state["throttled"][deployment_id] = _state["throttled"].get(deployment_id, 0) + 1
            raise _Error("ThrottlingException", "Rate exceeded")
    deployment = self.codedeploy_backend.deployments.get(deployment_id)
    if deployment is None:
        raise _Error(
            "DeploymentDoesNotExistException",
            f"The deployment {deployment_id} does not exist with the user or AWS account.",
        )
    if status not in ("Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Unknown"):
        raise _Error("InvalidLifecycleEventHookExecutionStatusException", f"bad status {status}")
    with _lock:
        if any(
            r["deploymentId"] == deployment_id and r["executionId"] == execution_id
            for r in _state["reports"]
        ):
            raise _Error(
                "LifecycleEventAlreadyCompletedException",
                f"The lifecycle event {execution_id} has already completed.",
            )
        _state["reports"].append(
            {"deploymentId": deployment_id, "executionId": execution_id, "status": status}
        )
    deployment.deployment_status_messages.append(f"hook {execution_id}: {status}")
    return json.dumps({"lifecycleEventHookExecutionId": execution_id})


CodeDeployResponse.put_lifecycle_event_hook_execution_status = (
    put_lifecycle_event_hook_execution_status
)
assert codedeploy_models  # imported so the backend is registered before the first request


# ECS service revisions and deployments (see the module docstring).
_ecs_lock = threading.Lock()
_ecs = {"revisions": {}, "deployments": []}
_revision_numbers = itertools.count(7_300_000_000_000_000_000)
_REVISION_ARN = re.compile(r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:service-revision/[^/]+/[^/]+/\d+$")


def _record_revision(response, service) -> None:
    backend = response.ecs_backend
    task_definition = (
        backend.describe_task_definition(service.task_definition)
        if service.task_definition
        else None
    )
    prefix = f"arn:aws:ecs:{response.region}:{response.current_account}"
    number = next(_revision_numbers)
    now = time.time()
    revision = {
        "serviceRevisionArn": f"{prefix}:service-revision/{service.cluster_name}/{service.name}/{number}",
        "serviceArn": service.arn,
        "clusterArn": service.cluster_arn,
        "taskDefinition": service.task_definition,
        "launchType": service.launch_type,
        "loadBalancers": service.load_balancers,
        "containerImages": [
            {"containerName": c.get("name"), "image": c.get("image")}
            for c in (task_definition.container_definitions if task_definition else [])
        ],
        "createdAt": now,
    }
    deployment = {
        "serviceDeploymentArn": f"{prefix}:service-deployment/{service.cluster_name}/{service.name}/{number}",
        "serviceArn": service.arn,
        "clusterArn": service.cluster_arn,
        "targetServiceRevisionArn": revision["serviceRevisionArn"],
        "status": "SUCCESSFUL",
        "createdAt": now,
        "startedAt": now,
    }
    with _ecs_lock:
        _ecs["revisions"][revision["serviceRevisionArn"]] = revision
        _ecs["deployments"].append(deployment)


def _recording(original, service_param):
    def operation(self):
        result = original(self)
        cluster = self._get_param("cluster", "default")
        service = self.ecs_backend._get_service(cluster, self._get_param(service_param).split("/")[-1])
        _record_revision(self, service)
        return result

    return operation


def describe_service_revisions(self):
    arns = self._get_param("serviceRevisionArns") or []
    if not arns or len(arns) > 20:
        raise InvalidParameterException("serviceRevisionArns must hold 1 to 20 ARNs.")
    found, failures = [], []
    with _ecs_lock:
        for arn in arns:
            if not _REVISION_ARN.match(arn):
                raise InvalidParameterException(f"Invalid service revision ARN: {arn}")
            revision = _ecs["revisions"].get(arn)
            if revision is None:
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                found.append(revision)
    return json.dumps({"serviceRevisions": found, "failures": failures})


def list_service_deployments(self):
    cluster = self._get_param("cluster", "default")
    service = self.ecs_backend._get_service(cluster, self._get_param("service").split("/")[-1])
    with _ecs_lock:
        mine = [d for d in _ecs["deployments"] if d["serviceArn"] == service.arn]
    return json.dumps({"serviceDeployments": list(reversed(mine))})


EC2ContainerServiceResponse.create_service = _recording(
    EC2ContainerServiceResponse.create_service, "serviceName"
)
EC2ContainerServiceResponse.update_service = _recording(
    EC2ContainerServiceResponse.update_service, "service"
)
EC2ContainerServiceResponse.describe_service_revisions = describe_service_revisions
EC2ContainerServiceResponse.list_service_deployments = list_service_deployments


def control_app(moto_app):
    """Serves /_greenlight/* itself and hands everything else to moto."""

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/_greenlight/"):
            return moto_app(environ, start_response)
        request = Request(environ)
        if path == "/_greenlight/throttle" and request.method == "POST":
            deployment_id = request.args.get("deployment", "")
            with _lock:
                _state["throttle"][deployment_id] = int(request.args.get("count", "1"))
            body = {"throttle": _state["throttle"]}
        elif path == "/_greenlight/reports" and request.method == "GET":
            with _lock:
                body = dict(_state)
        else:
            return Response("not found", status=404)(environ, start_response)
        return Response(json.dumps(body), mimetype="application/json")(environ, start_response)

    return app


def _exit_on_stdin_eof() -> None:
    sys.stdin.read()
    os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    args = parser.parse_args()
    if args.exit_on_stdin_eof:
        threading.Thread(target=_exit_on_stdin_eof, daemon=True).start()
    moto_app = DomainDispatcherApplication(create_backend_app)
    server = make_server(
        args.host,
        args.port,
        control_app(moto_app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )
    print(f"PORT {server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()

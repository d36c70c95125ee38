#!/usr/bin/env python3
"""Render taskdef.json and appspec.yaml from the repository-root templates.

Two sources for the values:

* the environment (CodeBuild, and ``scripts/ship/build.sh`` anywhere): the variables the CDK
  pipeline gives the build project, listed in docs/contract.md ("Deployment names");
* ``--from-template cdk/cdk.out/Greenlight.template.json``: the same variables read from the
  CodeBuild project in a synthesized CDK template, so anyone can see locally what the pipeline will
  deploy. Values that CloudFormation resolves at deploy time (``{"Ref": ...}``,
  ``{"Fn::GetAtt": [...]}``) are rendered as their canonical JSON text (see ``canonical``), which
  lets tests/ship compare them with the template's own resources.

Placeholders in the templates:

* ``{{NAME}}``          the value as a string (must be set and non-empty);
* ``{{NAME|int}}``      the value as a JSON integer;
* ``{{NAME|optional}}`` may be empty: then the object holding it is dropped from its list, and a
  list left empty is dropped from its object (no ``secrets`` entry without a secret ARN).

``<IMAGE1_NAME>`` and ``<TASK_DEFINITION>`` are left for the CodeDeploy deploy action.
Standard library only: it runs on a bare CodeBuild image and on any developer machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# Every variable the CDK app must give CodeBuild (docs/contract.md). Optional ones may be empty.
REQUIRED = (
    "AWS_DEFAULT_REGION",
    "ECR_REPOSITORY_URI",
    "TASK_FAMILY",
    "TASK_EXECUTION_ROLE_ARN",
    "TASK_ROLE_ARN",
    "LOG_GROUP_NAME",
    "CONTAINER_NAME",
    "CONTAINER_PORT",
    "TASK_CPU",
    "TASK_MEMORY",
    "CPU_ARCHITECTURE",
    "LLM_PROVIDER",
    "DRAIN_SECONDS",
    "STOP_TIMEOUT_SECONDS",
    "HOOK_FUNCTION_NAME",
)
OPTIONAL = ("LLM_MODEL", "OPENAI_BASE_URL", "OPENAI_API_KEY_SECRET_ARN")

# Fargate's limits (ECS API reference, ContainerDefinition.stopTimeout: at most 120 s on Fargate).
MAX_STOP_TIMEOUT = 120
PROVIDERS = ("offline", "openai", "bedrock")
ARCHITECTURES = ("X86_64", "ARM64")

PLACEHOLDER = re.compile(r"\{\{([A-Z0-9_]+)(?:\|(int|optional))?\}\}")


class RenderError(Exception):
    """A value or template that cannot be rendered; the message names the variable."""


def canonical(value: Any) -> str:
    """The text a value renders as: strings as they are, CloudFormation intrinsics as compact,
    key-sorted JSON (the same function the tests apply to the template's resources)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def is_intrinsic(value: Any) -> bool:
    return isinstance(value, Mapping)


# ---------------------------------------------------------------------------------------------
# Where the values come from


def values_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {name: env.get(name, "") for name in REQUIRED + OPTIONAL}
    commit = env.get("GIT_COMMIT") or env.get("CODEBUILD_RESOLVED_SOURCE_VERSION") or git_commit()
    values["GIT_COMMIT"] = commit
    values["IMAGE_URI"] = env.get("IMAGE_URI") or image_uri(values["ECR_REPOSITORY_URI"], commit)
    return values


def read_template(path: Path) -> dict[str, Any]:
    try:
        template = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise RenderError(f"cannot read CloudFormation template {path}: {err}") from err
    if not isinstance(template, dict):
        raise RenderError(f"{path} is not a CloudFormation template (no JSON object)")
    return template


def sibling_exports(template_path: Path) -> dict[str, Any]:
    """Export name -> exported value of every template beside this one: a multi-stack CDK app
    hands the pipeline stack its values as Fn::ImportValue of the other stacks' outputs."""
    exports: dict[str, Any] = {}
    for path in sorted(template_path.parent.glob("*.template.json")):
        for output in (read_template(path).get("Outputs") or {}).values():
            name = (output.get("Export") or {}).get("Name")
            if isinstance(name, str):
                exports[name] = output.get("Value")
    return exports


def resolve_imports(value: Any, exports: Mapping[str, Any]) -> Any:
    if isinstance(value, Mapping) and set(value) == {"Fn::ImportValue"}:
        name = value["Fn::ImportValue"]
        if isinstance(name, str) and name in exports:
            return resolve_imports(exports[name], exports)
    return value


def values_from_template(template_path: Path, commit: str | None) -> dict[str, Any]:
    template = read_template(template_path)
    exports = sibling_exports(template_path)
    logical_id, variables = codebuild_environment(template)
    values: dict[str, Any] = {name: "" for name in REQUIRED + OPTIONAL}
    for entry in variables:
        name = entry.get("Name")
        if name not in values:
            continue
        kind = entry.get("Type", "PLAINTEXT")
        if kind != "PLAINTEXT":
            raise RenderError(
                f"{name}: CodeBuild project {logical_id} gives it as {kind}; "
                "render.py needs PLAINTEXT values (the ARN itself, not the secret)"
            )
        value = resolve_imports(entry.get("Value", ""), exports)
        values[name] = value if is_intrinsic(value) else canonical(value)
    # CodeBuild sets the region of the build itself; the CDK app need not pass it.
    if not values["AWS_DEFAULT_REGION"]:
        values["AWS_DEFAULT_REGION"] = {"Ref": "AWS::Region"}
    commit = commit or git_commit()
    values["GIT_COMMIT"] = commit
    values["IMAGE_URI"] = image_uri(values["ECR_REPOSITORY_URI"], commit)
    return values


def codebuild_environment(template: Mapping[str, Any]) -> tuple[str, list[Mapping[str, Any]]]:
    """The environment variables of the one CodeBuild project that renders the ship files
    (the project whose variables include TASK_FAMILY)."""
    found = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::CodeBuild::Project":
            continue
        env = (resource.get("Properties") or {}).get("Environment") or {}
        variables = env.get("EnvironmentVariables") or []
        if any(v.get("Name") == "TASK_FAMILY" for v in variables):
            found.append((logical_id, variables))
    if len(found) != 1:
        names = ", ".join(f[0] for f in found) or "none"
        raise RenderError(
            "expected exactly one AWS::CodeBuild::Project with a TASK_FAMILY environment "
            f"variable in the template, found {len(found)} ({names})"
        )
    return found[0]


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def image_uri(repository: Any, commit: str) -> Any:
    if not repository:
        return ""
    return f"{canonical(repository)}:{commit}"


# ---------------------------------------------------------------------------------------------
# Checks: every bad value gets an error naming the variable and the limit


def validate(values: Mapping[str, Any]) -> None:
    missing = [name for name in REQUIRED if values.get(name) in ("", None)]
    if not values.get("IMAGE_URI"):
        missing.append("IMAGE_URI (or ECR_REPOSITORY_URI)")
    if missing:
        raise RenderError("missing environment variable(s): " + ", ".join(missing))

    errors = []

    def literal_int(name: str, low: int, high: int) -> int | None:
        value = values[name]
        if is_intrinsic(value):
            errors.append(f"{name} must be a literal integer, got CloudFormation {canonical(value)}")
            return None
        try:
            number = int(str(value).strip())
        except ValueError:
            errors.append(f"{name} must be an integer between {low} and {high}, got {value!r}")
            return None
        if not low <= number <= high:
            errors.append(f"{name} must be between {low} and {high}, got {number}")
            return None
        return number

    literal_int("CONTAINER_PORT", 1, 65535)
    literal_int("TASK_CPU", 256, 16384)
    literal_int("TASK_MEMORY", 512, 122880)
    drain = literal_int("DRAIN_SECONDS", 0, MAX_STOP_TIMEOUT - 1)
    stop = literal_int("STOP_TIMEOUT_SECONDS", 2, MAX_STOP_TIMEOUT)
    if drain is not None and stop is not None and stop <= drain:
        errors.append(
            f"STOP_TIMEOUT_SECONDS ({stop}) must be greater than DRAIN_SECONDS ({drain}) so the "
            "process exits on its own before ECS sends SIGKILL"
        )

    def one_of(name: str, allowed: tuple[str, ...]) -> None:
        value = values[name]
        if not is_intrinsic(value) and value not in allowed:
            errors.append(f"{name} must be one of {', '.join(allowed)}, got {value!r}")

    one_of("CPU_ARCHITECTURE", ARCHITECTURES)
    one_of("LLM_PROVIDER", PROVIDERS)

    secret = values.get("OPENAI_API_KEY_SECRET_ARN")
    if secret and not is_intrinsic(secret) and not str(secret).startswith("arn:"):
        errors.append(
            f"OPENAI_API_KEY_SECRET_ARN must be a Secrets Manager ARN (arn:...), got {secret!r}"
        )
    if values["LLM_PROVIDER"] == "openai" and not secret and not values.get("OPENAI_BASE_URL"):
        errors.append(
            "LLM_PROVIDER=openai needs OPENAI_API_KEY_SECRET_ARN (or an OPENAI_BASE_URL of a "
            "keyless OpenAI-compatible upstream)"
        )
    if errors:
        raise RenderError("; ".join(errors))


# ---------------------------------------------------------------------------------------------
# Rendering

_DROP = object()  # marks an object whose optional placeholder rendered empty


def render_scalar(text: str, values: Mapping[str, Any], where: str) -> Any:
    match = PLACEHOLDER.fullmatch(text)
    if match is None:
        if "{{" in text:
            raise RenderError(f"{where}: malformed placeholder in {text!r}")
        return text
    name, mode = match.group(1), match.group(2)
    if name not in values:
        raise RenderError(f"{where}: unknown placeholder {name}")
    value = values[name]
    if mode == "int":
        if is_intrinsic(value):
            raise RenderError(f"{where}: {name} must be a literal integer")
        return int(str(value).strip())
    if mode == "optional" and value in ("", None):
        return _DROP
    return canonical(value)


def render_json(node: Any, values: Mapping[str, Any], where: str = "taskdef.json") -> Any:
    if isinstance(node, str):
        return render_scalar(node, values, where)
    if isinstance(node, list):
        out = []
        for i, item in enumerate(node):
            rendered = render_json(item, values, f"{where}[{i}]")
            if rendered is not _DROP:
                out.append(rendered)
        return out
    if isinstance(node, dict):
        out_obj: dict[str, Any] = {}
        for key, item in node.items():
            rendered = render_json(item, values, f"{where}.{key}")
            if rendered is _DROP:
                return _DROP  # an optional value is empty: the whole object goes
            if isinstance(rendered, list) and not rendered and item:
                continue  # every entry was optional and empty: drop the key itself
            out_obj[key] = rendered
        return out_obj
    return node


def render_yaml(text: str, values: Mapping[str, Any], where: str = "appspec.yaml") -> str:
    def substitute(match: re.Match[str]) -> str:
        rendered = render_scalar(match.group(0), values, where)
        if rendered is _DROP:
            raise RenderError(f"{where}: {match.group(1)} is optional, which YAML cannot drop")
        if isinstance(rendered, int):
            return str(rendered)
        # A JSON string is a valid YAML double-quoted scalar: safe for any name or intrinsic text.
        return json.dumps(rendered)

    out = PLACEHOLDER.sub(substitute, text)
    if "{{" in out:
        raise RenderError(f"{where}: malformed placeholder left after rendering")
    return out


def render(values: Mapping[str, Any], out_dir: Path, templates: Path = ROOT) -> None:
    validate(values)
    taskdef = render_json(json.loads((templates / "taskdef.json").read_text()), values)
    appspec = render_yaml((templates / "appspec.yaml").read_text(), values)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "taskdef.json").write_text(json.dumps(taskdef, indent=2) + "\n")
    (out_dir / "appspec.yaml").write_text(appspec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="directory to write the files to")
    parser.add_argument(
        "--from-template",
        type=Path,
        metavar="TEMPLATE",
        help="take the values from the CodeBuild project in this synthesized CDK template",
    )
    parser.add_argument(
        "--commit", help="commit for GIT_COMMIT and the image tag with --from-template"
    )
    args = parser.parse_args(argv)
    try:
        if args.from_template:
            values = values_from_template(args.from_template, args.commit)
        else:
            values = values_from_env(os.environ)
        render(values, args.out)
    except RenderError as err:
        print(f"render.py: error: {err}", file=sys.stderr)
        return 2
    print(f"render.py: wrote {args.out / 'taskdef.json'} and {args.out / 'appspec.yaml'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Offline checks of what deploys the platform, run by `.ci/run`:

- k8s: renders each kustomize overlay (`kubectl kustomize`) and validates every document in strict
  mode (an undeclared field is an error): built-in kinds with `kubernetes_validate` against
  Kubernetes `KUBERNETES_VERSION`, custom kinds against the schemas kept in `deploy/k8s/crd-schemas/`.
  A kind with neither schema is an error.
- compose: `docker-compose -f docker-compose.yml config -q`, each `${VAR:?...}` set to a placeholder.
- dockerfile: `hadolint Dockerfile` (`.hadolint.yaml` if present).
- checkov: `checkov --framework kubernetes` on the rendered overlays (`.checkov.yaml`: skips, each
  with its reason).

    python3 .ci/validate_deploy.py [--only k8s|compose|dockerfile|checkov ...] [OVERLAY_DIR ...]

Without overlay directories: every `deploy/k8s/overlays/*` with a kustomization. A part that does not
exist yet (no overlay, no docker-compose.yml, no Dockerfile) is skipped with a line saying so.
Prints every failure (overlay, kind/name, JSON path) and exits 1 if any. Needs PyYAML, jsonschema,
kubernetes-validate, and the tools on PATH or next to the running Python (a virtualenv's bin/).
"""

import argparse
import functools
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

import jsonschema
import kubernetes_validate
import yaml
from referencing import Registry, Resource

KUBERNETES_VERSION = "1.31"  # the cluster version the manifests target; built-in kinds use its schemas

ROOT = pathlib.Path(__file__).resolve().parent.parent
OVERLAYS = ROOT / "deploy" / "k8s" / "overlays"
CRD_SCHEMAS = ROOT / "deploy" / "k8s" / "crd-schemas"
KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# API groups whose kinds are Kubernetes' own: the core group (""), these, and every `*.k8s.io`.
BUILT_IN_GROUPS = {"", "apps", "batch", "autoscaling", "policy", "extensions"}
OBJECT_META = (
    "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
)
STEPS = ("k8s", "compose", "dockerfile", "checkov")


class Loader(yaml.SafeLoader):
    """YAML as Kubernetes reads it here: an unquoted date stays a string."""


Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))
Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def documents(text):
    return [document for document in yaml.load_all(text, Loader=Loader) if document is not None]


# ---------------------------------------------------------------- schemas


def json_path(parts):
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def message_of(error, limit=200):
    """jsonschema's message, or, when it starts by repeating a long value, the rule that failed."""
    if len(error.message) <= limit:
        return error.message
    rule = json.dumps(error.validator_value, default=str)
    rule = rule if len(rule) <= 80 else rule[:77] + "..."
    return f"fails {error.validator} {rule}"


def findings(errors):
    """(JSON path, message) for each jsonschema error; an undeclared field is named in the path."""
    out = []
    for error in errors:
        path = list(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            declared = error.schema.get("properties", {})
            patterns = error.schema.get("patternProperties", {})
            extras = [
                name
                for name in error.instance
                if name not in declared and not any(re.search(p, name) for p in patterns)
            ]
            if extras:
                out.extend((json_path(path + [name]), "unknown field") for name in extras)
                continue
        out.append((json_path(path), message_of(error)))
    return sorted(set(out))


def strict_schema(node):
    """A CRD's structural schema as the API server applies it with strict field validation:
    undeclared fields rejected unless `x-kubernetes-preserve-unknown-fields`, OpenAPI's `nullable`,
    `x-kubernetes-int-or-string` and boolean `exclusiveMinimum`/`exclusiveMaximum` in JSON Schema
    terms. Branches of allOf/anyOf/oneOf/not only add constraints, so they stay as they are. A null
    where the schema is not `nullable` fails: the API server would drop the field without a word."""
    if not isinstance(node, dict):
        return node
    node = dict(node)
    for name in ("properties", "patternProperties"):
        if name in node:
            node[name] = {key: strict_schema(value) for key, value in node[name].items()}
    for name in ("items", "additionalProperties"):
        if isinstance(node.get(name), dict):
            node[name] = strict_schema(node[name])
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), bool):
            if node.pop(bound) and limit in node:
                node[bound] = node.pop(limit)
    if node.get("x-kubernetes-int-or-string") and "type" not in node:
        node["type"] = ["integer", "string"]
    if node.get("nullable"):
        if "type" in node:
            types = node["type"] if isinstance(node["type"], list) else [node["type"]]
            node["type"] = types + ["null"]
        if "enum" in node:
            node["enum"] = list(node["enum"]) + [None]
    if node.get("x-kubernetes-embedded-resource"):
        properties = node.setdefault("properties", {})
        for name in ("apiVersion", "kind"):
            properties.setdefault(name, {"type": "string"})
        properties.setdefault("metadata", {"type": "object", "x-kubernetes-preserve-unknown-fields": True})
    is_object = node.get("type") == "object" or "properties" in node
    preserved = node.get("x-kubernetes-preserve-unknown-fields")
    if is_object and "additionalProperties" not in node and not preserved:
        node["additionalProperties"] = False
    return node


@functools.cache
def builtin_definitions():
    """kubernetes_validate's definitions (ObjectMeta and the rest) for `KUBERNETES_VERSION`."""
    from kubernetes_validate import utils  # the helpers kubernetes_validate.validate uses

    version = served_builtin_version()
    return utils.schema_contents(f"kubernetes-json-schema/v{version}-local-strict/_definitions.json", version)


def served_builtin_version():
    from kubernetes_validate import utils
    from packaging.version import Version

    wanted = Version(KUBERNETES_VERSION)
    versions = [v for v in utils.all_versions() if Version(utils.major_minor(v)) <= wanted]
    if not versions:
        raise SystemExit(f"kubernetes_validate has no schemas for Kubernetes {KUBERNETES_VERSION}")
    return versions[-1]


@functools.cache
def custom_validator(group, version, kind):
    """A validator for a stored CRD schema, or None when none is stored for that group, version, kind."""
    path = CRD_SCHEMAS / f"{group}_{version}_{kind}.json"
    if not path.is_file():
        return None
    schema = strict_schema(json.loads(path.read_text()))
    properties = schema.setdefault("properties", {})
    for name in ("apiVersion", "kind"):
        properties.setdefault(name, {"type": "string"})
    # The API server checks a custom resource's metadata as ObjectMeta, whatever the CRD says of it.
    own_metadata = properties.get("metadata", {})
    own_metadata.pop("additionalProperties", None)
    properties["metadata"] = {"allOf": [{"$ref": OBJECT_META}, own_metadata]}
    registry = Resource.from_contents(builtin_definitions()) @ Registry()
    return jsonschema.Draft202012Validator(schema, registry=registry)


def validate_document(document):
    """(JSON path, message) for each problem of one rendered document; empty when it is valid.
    A stored CRD schema comes first (some CRDs have `*.k8s.io` groups, like the Gateway API's)."""
    if not isinstance(document, dict) or not document.get("apiVersion") or not document.get("kind"):
        return [("$", "not a Kubernetes object (apiVersion and kind are required)")]
    api_version, kind = document["apiVersion"], document["kind"]
    group, _, version = api_version.rpartition("/")
    validator = custom_validator(group, version, kind)
    if validator is not None:
        return findings(validator.iter_errors(document))
    where = f"no schema in {relative(CRD_SCHEMAS)}/{other_versions(group, kind)}"
    if group not in BUILT_IN_GROUPS and not group.endswith(".k8s.io"):
        return [("$", f"{api_version} {kind}: not a built-in kind and {where}")]
    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        return []
    except kubernetes_validate.SchemaNotFoundError:
        return [("$", f"{api_version} {kind}: not in Kubernetes {KUBERNETES_VERSION} and {where}")]
    except kubernetes_validate.ValidationError as error:
        return all_builtin_errors(document) or findings([error])


def other_versions(group, kind):
    """A hint when the kind is stored under another version (one the operator no longer serves)."""
    stored = sorted(path.name.split("_")[1] for path in CRD_SCHEMAS.glob(f"{group}_*_{kind}.json"))
    return f" (stored: {', '.join(group + '/' + version for version in stored)})" if stored else ""


def all_builtin_errors(document):
    """Every error of an invalid built-in document (kubernetes_validate raises the first only), by the
    same schema lookup; empty if that lookup finds nothing, and the first error is reported instead."""
    from kubernetes_validate import utils

    version = served_builtin_version()
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", document["apiVersion"])
    try:
        schema = utils.schema_contents(
            f"kubernetes-json-schema/v{version}-local-strict/{document['kind'].lower()}-{api}.json", version
        )
    except (FileNotFoundError, kubernetes_validate.InvalidSchemaError):
        return []
    registry = Resource.from_contents(schema) @ (Resource.from_contents(builtin_definitions()) @ Registry())
    return findings(jsonschema.Draft202012Validator(schema, registry=registry).iter_errors(document))


# ---------------------------------------------------------------- steps


class Failure(Exception):
    """A step that could not run (a tool missing, an overlay that does not render)."""


def tool(name):
    """The executable next to the running Python (a virtualenv's bin/) first, then on PATH."""
    found = shutil.which(name, path=str(pathlib.Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        raise Failure(f"{name} is not installed (.ci/run: docker-compose from apt, the linters in its virtualenv)")
    return found


def shown(command):
    """The command as printed: the tool's name without its folder."""
    return " ".join([pathlib.Path(command[0]).name] + [str(part) for part in command[1:]])


def run(command, env=None):
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)


def overlay_dirs(given):
    if given:
        return [pathlib.Path(path).resolve() for path in given]
    if not OVERLAYS.is_dir():
        return []
    return sorted(
        path for path in OVERLAYS.iterdir() if any((path / name).is_file() for name in KUSTOMIZATIONS)
    )


def relative(path):
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


@functools.cache
def render(overlay):
    command = [tool("kubectl"), "kustomize", str(overlay)]
    result = run(command)
    if result.returncode != 0:
        raise Failure(f"{shown(command)} failed:\n{result.stderr.strip()}")
    return result.stdout


def step_k8s(overlays):
    if not overlays:
        print(f"k8s: skipped, no overlay in {relative(OVERLAYS)}/")
        return []
    problems = []
    for overlay in overlays:
        name = relative(overlay)
        try:
            rendered = documents(render(overlay))
        except (Failure, yaml.YAMLError) as error:
            problems.append(f"{name}: {error}")
            continue
        for document in rendered:
            label = f"{name}: {kind_and_name(document)}"
            problems.extend(f"{label}: {path}: {message}" for path, message in validate_document(document))
        print(
            f"k8s: kubectl kustomize {name}: {len(rendered)} documents "
            f"(strict; Kubernetes {KUBERNETES_VERSION}, CRD schemas in {relative(CRD_SCHEMAS)}/)"
        )
    return problems


def kind_and_name(document):
    if not isinstance(document, dict):
        return "?"
    metadata = document.get("metadata") if isinstance(document.get("metadata"), dict) else {}
    return f"{document.get('kind', '?')}/{metadata.get('name', '?')}"


REQUIRED_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?\?[^}]*\}")


def required_variables(text):
    return sorted(set(REQUIRED_VARIABLE.findall(text)))


def step_compose(_overlays):
    compose = ROOT / "docker-compose.yml"
    if not compose.is_file():
        print("compose: skipped, no docker-compose.yml")
        return []
    variables = required_variables(compose.read_text())
    env = dict(os.environ)
    for variable in variables:
        env[variable] = env.get(variable) or f"placeholder-{variable.lower()}"
    command = [tool("docker-compose"), "-f", "docker-compose.yml", "config", "-q"]
    result = run(command, env=env)
    given = f" (placeholders for {', '.join(variables)})" if variables else ""
    print(f"compose: {shown(command)}{given}")
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        return [f"docker-compose.yml: {output or 'docker-compose exited with ' + str(result.returncode)}"]
    if output:
        print(output)
    return []


def step_dockerfile(_overlays):
    if not (ROOT / "Dockerfile").is_file():
        print("dockerfile: skipped, no Dockerfile")
        return []
    command = [tool("hadolint"), "--no-color"]
    if (ROOT / ".hadolint.yaml").is_file():
        command += ["--config", ".hadolint.yaml"]
    command.append("Dockerfile")
    result = run(command)
    print(f"dockerfile: {shown(command)}")
    if result.returncode != 0:
        return [f"Dockerfile: {line}" for line in (result.stdout + result.stderr).strip().splitlines()]
    return []


def step_checkov(overlays):
    if not overlays:
        print(f"checkov: skipped, no overlay in {relative(OVERLAYS)}/")
        return []
    with tempfile.TemporaryDirectory(prefix="checkov-") as folder:
        try:
            for number, overlay in enumerate(overlays, 1):
                file = pathlib.Path(folder) / f"{overlay.name}.yaml"  # checkov names it: /dev.yaml
                if file.exists():
                    file = file.with_name(f"{overlay.name}-{number}.yaml")
                file.write_text(render(overlay))
        except Failure as error:
            return [f"checkov: {error}"]
        command = [tool("checkov"), "-d", folder, "--framework", "kubernetes", "--quiet", "--compact"]
        command.append("--skip-download")  # offline: no guidelines or severities from Prisma Cloud
        if (ROOT / ".checkov.yaml").is_file():
            command += ["--config-file", ".checkov.yaml"]
        result = run(command, env=dict(os.environ, BC_SKIP_MAPPING="TRUE"))
        print(f"checkov: {shown(command).replace(folder, '<rendered overlays>')}")
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip().replace(folder, "<rendered>")
            return [f"checkov:\n{output}"]
    return []


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overlays", nargs="*", help="overlay folders (default: deploy/k8s/overlays/*)")
    parser.add_argument("--only", action="append", choices=STEPS, help="run only this step (repeatable)")
    args = parser.parse_args(argv)
    overlays = overlay_dirs(args.overlays)
    steps = dict(zip(STEPS, (step_k8s, step_compose, step_dockerfile, step_checkov)))
    problems = []
    for name in args.only or STEPS:
        try:
            problems.extend(steps[name](overlays))
        except Failure as error:
            problems.append(f"{name}: {error}")
    for problem in problems:
        print(f"FAIL {problem}")
    if problems:
        print(f"\n{len(problems)} problem(s); see CONTRIBUTING.md, Lint", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

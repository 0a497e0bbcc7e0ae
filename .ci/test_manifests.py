#!/usr/bin/env python3
"""Invariants of the rendered Kubernetes manifests, for every overlay of `deploy/k8s/overlays/`
(`kubectl kustomize`), which schema validation (`.ci/validate_deploy.py`) cannot see:

- every Deployment's containers have a startup, a readiness (`/readyz`) and a liveness (`/healthz`)
  probe on the admin port (`<P>_ADMIN_LISTEN_ADDR`), a port the container declares;
- every container and init container of a pod template (Deployments and Jobs) has cpu and memory
  requests and limits, the restricted security context (non-root, read-only root filesystem, no
  privilege escalation, every capability dropped, seccomp RuntimeDefault on the pod or the
  container) and an image with an explicit tag other than `latest` (or a digest);
- `terminationGracePeriodSeconds` covers the preStop sleep plus `<P>_SHUTDOWN__DRAIN_DELAY_MS` and
  `<P>_SHUTDOWN__TIMEOUT_MS` of each Deployment's containers (missing variables fail);
- a `$(VAR)` in an env value names a variable defined before it in the same list (a strategic-merge
  patch moves the entries it names to the front, which silently breaks the expansion);
- HorizontalPodAutoscalers target the gateway and the auth-server; a PodDisruptionBudget covers
  every Deployment that runs more than one pod;
- no Ingress routes `/oauth2/introspect`, `/metrics`, `/healthz` or `/readyz`, nor sends anything to
  an admin port; a path that covers them only reaches a public port whose service has moved them to
  its admin listener, and never the auth-server's (introspection);
- a default-deny NetworkPolicy (ingress and egress) selects every pod template;
- every ConfigMap a pod mounts is rendered;
- prod: at least two pods of every Deployment (three of the gateway and the auth-server), TLS
  settings on every service, probes over HTTPS, TLS on every Ingress;
- `deploy/k8s/base/sql/` holds byte-identical copies of `deploy/sql/`'s grant files.

The `BreakageIsCaught` tests break a rendered overlay in memory, one way per check, and assert
that the check notices. Needs PyYAML and `kubectl` (on PATH or next to the running Python):

    ~/.cache/oauth-platform/ci-venv/bin/python .ci/test_manifests.py
"""

import copy
import functools
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# The environment prefix of each service image (each crate's README, Settings).
PREFIXES = {
    "auth-server": "AUTH",
    "resource-gateway": "GATEWAY",
    "email-service": "EMAIL",
    "jobs-service": "JOBS",
    "demo-api": "DEMO",
}
AUTOSCALED = ("auth-server", "resource-gateway")
NEVER_ROUTED = ("/oauth2/introspect", "/metrics", "/healthz", "/readyz")
ADMIN_PATHS = ("/metrics", "/healthz", "/readyz")
GRANT_FILES = ("auth-grants.sql", "email-grants.sql")
WORKLOADS = ("Deployment", "Job", "StatefulSet", "DaemonSet", "ReplicaSet")
VARIABLE = re.compile(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


# ---------------------------------------------------------------- rendering


def overlays():
    folder = K8S / "overlays"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if any((p / name).is_file() for name in KUSTOMIZATIONS))


@functools.cache
def render(overlay):
    beside_python = str(pathlib.Path(sys.executable).parent)
    kubectl = shutil.which("kubectl", path=beside_python) or shutil.which("kubectl")
    if kubectl is None:
        raise RuntimeError("kubectl is not installed")
    result = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {overlay} failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if isinstance(doc, dict)]


# ---------------------------------------------------------------- helpers


def name_of(doc):
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def of_kind(docs, *kinds):
    return [doc for doc in docs if doc.get("kind") in kinds]


def pod_spec(doc):
    return doc.get("spec", {}).get("template", {}).get("spec", {})


def pod_labels(doc):
    return doc.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {}) or {}


def containers(spec, init=True):
    """(kind of container, container) of a pod spec."""
    out = [("container", c) for c in spec.get("containers", []) or []]
    if init:
        out += [("initContainer", c) for c in spec.get("initContainers", []) or []]
    return out


def service_of(container):
    """The platform service an image runs (`oauth-platform/auth-server:1` -> auth-server), or None."""
    repository = re.split(r"[@:]", container.get("image", "").rsplit("/", 1)[-1])[0]
    return repository if repository in PREFIXES and "oauth-platform/" in container.get("image", "") else None


def env_value(container, name):
    for entry in container.get("env", []) or []:
        if entry.get("name") == name:
            return entry.get("value")
    return None


def admin_port(container):
    """The port of `<P>_ADMIN_LISTEN_ADDR`, or None."""
    service = service_of(container)
    address = env_value(container, f"{PREFIXES[service]}_ADMIN_LISTEN_ADDR") if service else None
    return int(address.rsplit(":", 1)[1]) if address and ":" in address else None


def port_number(container, port):
    """A probe's or a Service's target port (name or number) as a number of the container, or None."""
    for declared in container.get("ports", []) or []:
        if port == declared.get("name") or port == declared.get("containerPort"):
            return declared.get("containerPort")
    return None


def selects(selector, labels):
    """Whether a LabelSelector selects these labels (an empty selector selects everything)."""
    selector = selector or {}
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        present = key in labels
        if operator == "In" and (not present or labels[key] not in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def replicas(deployment, docs):
    """The pods a Deployment runs at least: an autoscaler's minimum, else its replicas (default 1)."""
    name = deployment["metadata"]["name"]
    for hpa in of_kind(docs, "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        if target.get("kind") == "Deployment" and target.get("name") == name:
            return hpa["spec"].get("minReplicas", 1)
    for scaled in of_kind(docs, "ScaledObject"):
        target = scaled["spec"]["scaleTargetRef"]
        if target.get("kind", "Deployment") == "Deployment" and target.get("name") == name:
            return scaled["spec"].get("minReplicaCount", 0)
    return deployment["spec"].get("replicas", 1)


# ---------------------------------------------------------------- checks (each returns problems)


def probe_problems(docs):
    problems = []
    for deployment in of_kind(docs, "Deployment"):
        for _, container in containers(pod_spec(deployment), init=False):
            where = f"{name_of(deployment)} {container['name']}"
            admin = admin_port(container)
            for probe, paths in (
                ("startupProbe", ("/healthz", "/readyz")),
                ("readinessProbe", ("/readyz",)),
                ("livenessProbe", ("/healthz",)),
            ):
                get = (container.get(probe) or {}).get("httpGet")
                if not get:
                    problems.append(f"{where}: no {probe} (httpGet)")
                    continue
                if get.get("path") not in paths:
                    problems.append(f"{where}: {probe} path {get.get('path')!r}, not {' or '.join(paths)}")
                number = port_number(container, get.get("port"))
                if number is None:
                    problems.append(f"{where}: {probe} port {get.get('port')!r} is not a port "
                                    "of the container")
                elif number != admin:
                    problems.append(f"{where}: {probe} on port {number}, not the admin port ({admin})")
    return problems


def resource_problems(docs):
    problems = []
    for workload in of_kind(docs, *WORKLOADS):
        for kind, container in containers(pod_spec(workload)):
            resources = container.get("resources") or {}
            for section in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in (resources.get(section) or {}):
                        problems.append(
                            f"{name_of(workload)} {kind} {container['name']}: no {section}.{resource}"
                        )
    return problems


def security_problems(docs):
    problems = []
    for workload in of_kind(docs, *WORKLOADS):
        spec = pod_spec(workload)
        pod = spec.get("securityContext") or {}
        for kind, container in containers(spec):
            context = container.get("securityContext") or {}
            where = f"{name_of(workload)} {kind} {container['name']}"

            def effective(field, context=context):
                return context[field] if field in context else pod.get(field)

            if effective("runAsNonRoot") is not True or effective("runAsUser") == 0:
                problems.append(f"{where}: may run as root (runAsNonRoot)")
            if context.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: readOnlyRootFilesystem is not true")
            if context.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation is not false")
            if context.get("privileged"):
                problems.append(f"{where}: privileged")
            capabilities = context.get("capabilities") or {}
            if "ALL" not in (capabilities.get("drop") or []) or capabilities.get("add"):
                problems.append(f"{where}: capabilities do not drop ALL (or add some)")
            if (effective("seccompProfile") or {}).get("type") != "RuntimeDefault":
                problems.append(f"{where}: seccomp profile is not RuntimeDefault")
    return problems


def grace_problems(docs):
    problems = []
    for deployment in of_kind(docs, "Deployment"):
        spec = pod_spec(deployment)
        grace = spec.get("terminationGracePeriodSeconds", 30)
        for _, container in containers(spec, init=False):
            where = f"{name_of(deployment)} {container['name']}"
            service = service_of(container)
            if service is None:
                problems.append(f"{where}: image {container.get('image')!r} is not a platform service")
                continue
            prefix = PREFIXES[service]
            sleep = ((container.get("lifecycle") or {}).get("preStop") or {}).get("sleep", {}).get("seconds")
            if sleep is None:
                problems.append(f"{where}: no preStop sleep")
                sleep = 0
            needed = sleep
            for variable in (f"{prefix}_SHUTDOWN__DRAIN_DELAY_MS", f"{prefix}_SHUTDOWN__TIMEOUT_MS"):
                value = env_value(container, variable)
                if value is None:
                    problems.append(f"{where}: {variable} is not set")
                else:
                    needed += int(value) / 1000
            if grace < needed:
                problems.append(f"{where}: terminationGracePeriodSeconds {grace} < {needed:g} s needed")
    return problems


def image_problems(docs):
    problems = []
    for workload in of_kind(docs, *WORKLOADS):
        for kind, container in containers(pod_spec(workload)):
            image = container.get("image", "")
            last = image.rsplit("/", 1)[-1]
            tag = last.split(":", 1)[1] if ":" in last else None
            if "@" not in image and tag in (None, "", "latest"):
                where = f"{name_of(workload)} {kind} {container['name']}"
                problems.append(f"{where}: image {image!r} has no fixed tag")
    return problems


def env_order_problems(docs):
    problems = []
    for workload in of_kind(docs, *WORKLOADS):
        for kind, container in containers(pod_spec(workload)):
            defined = set()
            for entry in container.get("env", []) or []:
                for variable in VARIABLE.findall(entry.get("value") or ""):
                    if variable not in defined:
                        problems.append(
                            f"{name_of(workload)} {kind} {container['name']}: {entry['name']} uses "
                            f"$({variable}) before it is defined (Kubernetes leaves it unexpanded)"
                        )
                defined.add(entry["name"])
    return problems


def autoscaler_problems(docs):
    targets = {
        hpa["spec"]["scaleTargetRef"].get("name")
        for hpa in of_kind(docs, "HorizontalPodAutoscaler")
        if hpa.get("apiVersion") == "autoscaling/v2"
        and hpa["spec"]["scaleTargetRef"].get("kind") == "Deployment"
    }
    return [f"no autoscaling/v2 HorizontalPodAutoscaler targets Deployment/{name}" for name in AUTOSCALED
            if name not in targets]


def disruption_problems(docs):
    problems = []
    budgets = of_kind(docs, "PodDisruptionBudget")
    for deployment in of_kind(docs, "Deployment"):
        count = replicas(deployment, docs)
        covered = any(selects(pdb["spec"].get("selector"), pod_labels(deployment)) for pdb in budgets)
        if count > 1 and not covered:
            problems.append(f"{name_of(deployment)}: {count} replicas and no PodDisruptionBudget")
    return problems


def routed(rule_path, path_type, path):
    """Whether an Ingress path sends `path` to its backend (ImplementationSpecific read as Prefix)."""
    if path_type == "Exact":
        return path == rule_path
    base = rule_path.rstrip("/")
    return path == rule_path or path.startswith(base + "/")


def backend_container(docs, service_name, port):
    """(Service, the container its port leads to, the container's port number), Nones if unresolved."""
    service = next((s for s in of_kind(docs, "Service") if s["metadata"]["name"] == service_name), None)
    if service is None:
        return None, None, None
    ports = service["spec"].get("ports", [])
    declared = next((p for p in ports if port in (p.get("name"), p.get("port"))), None)
    if declared is None:
        return service, None, None
    for workload in of_kind(docs, *WORKLOADS):
        if not selects({"matchLabels": service["spec"].get("selector") or {}}, pod_labels(workload)):
            continue
        for _, container in containers(pod_spec(workload), init=False):
            number = port_number(container, declared.get("targetPort", declared.get("port")))
            if number is not None:
                return service, container, number
    return service, None, None


def ingress_problems(docs):
    problems = []
    for ingress in of_kind(docs, "Ingress"):
        spec = ingress["spec"]
        rules = [(rule.get("host"), path) for rule in spec.get("rules", []) for path in rule["http"]["paths"]]
        if spec.get("defaultBackend"):
            rules.append((None, {"path": "/", "pathType": "Prefix", "backend": spec["defaultBackend"]}))
        for host, path in rules:
            backend = path["backend"].get("service") or {}
            port = backend.get("port", {}).get("name") or backend.get("port", {}).get("number")
            where = f"{name_of(ingress)} {host} {path['path']} -> {backend.get('name')}:{port}"
            service, container, number = backend_container(docs, backend.get("name"), port)
            if container is None:
                problems.append(f"{where}: the backend leads to no container port")
                continue
            if number == admin_port(container) or port == "admin":
                problems.append(f"{where}: the admin port is exposed")
            for forbidden in NEVER_ROUTED:
                if not routed(path["path"], path.get("pathType", "Prefix"), forbidden):
                    continue
                if path["path"].rstrip("/") == forbidden or path["path"].startswith(forbidden + "/"):
                    problems.append(f"{where}: routes {forbidden}")
                elif forbidden == "/oauth2/introspect" and service_of(container) == "auth-server":
                    problems.append(f"{where}: covers {forbidden} of the auth-server")
                elif forbidden in ADMIN_PATHS and admin_port(container) is None:
                    problems.append(f"{where}: covers {forbidden}, which the service serves on this port")
    return problems


def network_policy_problems(docs):
    pods = of_kind(docs, *WORKLOADS)
    for policy in of_kind(docs, "NetworkPolicy"):
        spec = policy["spec"]
        denies = set(spec.get("policyTypes", [])) >= {"Ingress", "Egress"}
        if denies and not spec.get("ingress") and not spec.get("egress"):
            if all(selects(spec.get("podSelector"), pod_labels(pod)) for pod in pods):
                return []
    return ["no default-deny NetworkPolicy (Ingress and Egress, no rule) selects every pod template"]


def config_map_problems(docs):
    rendered = {cm["metadata"]["name"] for cm in of_kind(docs, "ConfigMap")}
    problems = []
    for workload in of_kind(docs, *WORKLOADS):
        for volume in pod_spec(workload).get("volumes", []) or []:
            name = (volume.get("configMap") or {}).get("name")
            if name is not None and name not in rendered:
                problems.append(
                    f"{name_of(workload)}: volume {volume['name']} mounts ConfigMap {name}, not rendered"
                )
    return problems


def prod_problems(docs):
    problems = []
    for deployment in of_kind(docs, "Deployment"):
        count, name = replicas(deployment, docs), deployment["metadata"]["name"]
        least = 3 if name in AUTOSCALED else 2
        if count < least:
            problems.append(f"{name_of(deployment)}: {count} replicas in prod (at least {least})")
        for _, container in containers(pod_spec(deployment), init=False):
            prefix = PREFIXES.get(service_of(container), "?")
            for variable in ("CERT_FILE", "KEY_FILE", "CA_FILE"):
                if not env_value(container, f"{prefix}_TLS__{variable}"):
                    where = f"{name_of(deployment)} {container['name']}"
                    problems.append(f"{where}: {prefix}_TLS__{variable} unset")
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                if ((container.get(probe) or {}).get("httpGet") or {}).get("scheme") != "HTTPS":
                    problems.append(f"{name_of(deployment)} {container['name']}: {probe} is not over HTTPS")
    for ingress in of_kind(docs, "Ingress"):
        covered = {host for tls in ingress["spec"].get("tls", []) for host in tls.get("hosts", [])}
        for rule in ingress["spec"].get("rules", []):
            if rule.get("host") not in covered:
                problems.append(f"{name_of(ingress)}: host {rule.get('host')} has no TLS")
    return problems


def sql_copy_problems(k8s=K8S, sql=ROOT / "deploy" / "sql"):
    problems = []
    copies = k8s / "base" / "sql"
    for name in GRANT_FILES:
        if not (copies / name).is_file():
            problems.append(f"{copies / name} is missing")
        elif (copies / name).read_bytes() != (sql / name).read_bytes():
            problems.append(f"{copies / name} differs from {sql / name}: copy it again")
    for extra in sorted(p.name for p in copies.glob("*.sql") if p.name not in GRANT_FILES):
        problems.append(f"{copies / extra}: not a grant file of {sql}")
    return problems


EVERY_OVERLAY = {
    "probes": probe_problems,
    "resources": resource_problems,
    "security contexts": security_problems,
    "termination grace": grace_problems,
    "image tags": image_problems,
    "env order": env_order_problems,
    "autoscalers": autoscaler_problems,
    "disruption budgets": disruption_problems,
    "ingresses": ingress_problems,
    "network policies": network_policy_problems,
    "config maps": config_map_problems,
}


# ---------------------------------------------------------------- tests


class Manifests(unittest.TestCase):
    maxDiff = None  # show every problem in full

    def test_there_are_overlays(self):
        self.assertTrue(overlays(), f"no overlay in {K8S / 'overlays'}")

    def test_every_overlay_keeps_the_invariants(self):
        for overlay in overlays():
            docs = render(overlay)
            for check, function in EVERY_OVERLAY.items():
                with self.subTest(overlay=overlay.name, check=check):
                    self.assertEqual([], function(docs))

    def test_prod_runs_several_pods_of_everything_over_tls(self):
        prod = K8S / "overlays" / "prod"
        if prod not in overlays():
            self.skipTest("no prod overlay")
        self.assertEqual([], prod_problems(render(prod)))

    def test_the_sql_copies_are_those_of_deploy_sql(self):
        self.assertEqual([], sql_copy_problems())


def find(docs, kind, name):
    return next(doc for doc in docs if doc["kind"] == kind and doc["metadata"]["name"] == name)


def main_container(docs, name):
    return pod_spec(find(docs, "Deployment", name))["containers"][0]


class BreakageIsCaught(unittest.TestCase):
    """Each check fails on the dev overlay broken in memory: the checks can fail."""

    def setUp(self):
        dev = K8S / "overlays" / "dev"
        if dev not in overlays():
            self.skipTest("no dev overlay")
        self.docs = copy.deepcopy(render(dev))

    def assertCaught(self, check, needle):
        problems = check(self.docs)
        self.assertTrue(any(needle in problem for problem in problems), f"{needle!r} not in {problems}")

    def test_a_missing_or_misdirected_probe(self):
        container = main_container(self.docs, "auth-server")
        del container["readinessProbe"]
        container["livenessProbe"]["httpGet"]["port"] = "nope"
        container["startupProbe"]["httpGet"]["path"] = "/"
        self.assertCaught(probe_problems, "no readinessProbe")
        self.assertCaught(probe_problems, "is not a port of the container")
        self.assertCaught(probe_problems, "startupProbe path '/'")
        main_container(self.docs, "demo-api")["livenessProbe"]["httpGet"]["port"] = "http"
        self.assertCaught(probe_problems, "not the admin port")

    def test_a_missing_limit(self):
        jobs_migrate = pod_spec(find(self.docs, "Job", "platform-migrate"))["initContainers"][1]
        del jobs_migrate["resources"]["limits"]["memory"]
        self.assertCaught(resource_problems, "jobs-service-migrate: no limits.memory")

    def test_a_loose_security_context(self):
        spec = pod_spec(find(self.docs, "Job", "platform-migrate"))
        spec["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
        spec["containers"][1]["securityContext"]["capabilities"]["drop"] = []
        del spec["securityContext"]["seccompProfile"]
        self.assertCaught(security_problems, "auth-grants: readOnlyRootFilesystem")
        self.assertCaught(security_problems, "email-grants: capabilities")
        self.assertCaught(security_problems, "seccomp")
        context = main_container(self.docs, "jobs-service")["securityContext"]
        context["runAsNonRoot"], context["allowPrivilegeEscalation"] = False, True
        self.assertCaught(security_problems, "jobs-service: may run as root")
        self.assertCaught(security_problems, "jobs-service: allowPrivilegeEscalation")

    def test_a_short_grace_period_or_a_missing_shutdown_setting(self):
        pod_spec(find(self.docs, "Deployment", "email-service"))["terminationGracePeriodSeconds"] = 20
        self.assertCaught(grace_problems, "email-service: terminationGracePeriodSeconds 20 < 28 s")
        container = main_container(self.docs, "auth-server")
        container["env"] = [e for e in container["env"] if e["name"] != "AUTH_SHUTDOWN__TIMEOUT_MS"]
        del container["lifecycle"]
        self.assertCaught(grace_problems, "AUTH_SHUTDOWN__TIMEOUT_MS is not set")
        self.assertCaught(grace_problems, "auth-server: no preStop sleep")

    def test_an_untagged_or_latest_image(self):
        main_container(self.docs, "demo-api")["image"] = "oauth-platform/demo-api:latest"
        pod_spec(find(self.docs, "Job", "platform-migrate"))["containers"][0]["image"] = "postgres"
        self.assertCaught(image_problems, "'oauth-platform/demo-api:latest'")
        self.assertCaught(image_problems, "'postgres' has no fixed tag")

    def test_a_variable_used_before_it_is_defined(self):
        env = main_container(self.docs, "auth-server")["env"]
        url = next(e for e in env if e["name"] == "DATABASE_URL")
        env.remove(url)
        env.insert(0, url)
        self.assertCaught(env_order_problems, "DATABASE_URL uses $(DB_USER) before it is defined")

    def test_a_missing_autoscaler_or_disruption_budget(self):
        self.docs.remove(find(self.docs, "HorizontalPodAutoscaler", "resource-gateway"))
        self.assertCaught(autoscaler_problems, "Deployment/resource-gateway")
        find(self.docs, "Deployment", "jobs-service")["spec"]["replicas"] = 3
        self.docs.remove(find(self.docs, "PodDisruptionBudget", "jobs-service"))
        self.assertCaught(disruption_problems, "Deployment/jobs-service: 3 replicas")

    def test_an_ingress_that_reaches_what_it_must_not(self):
        paths = find(self.docs, "Ingress", "auth-server")["spec"]["rules"][0]["http"]["paths"]
        backend = copy.deepcopy(paths[0]["backend"])
        paths.append({"path": "/oauth2/introspect", "pathType": "Exact", "backend": backend})
        paths.append({"path": "/", "pathType": "Prefix", "backend": backend})
        admin = copy.deepcopy(backend)
        admin["service"]["port"] = {"name": "admin"}
        paths.append({"path": "/status", "pathType": "Prefix", "backend": admin})
        self.assertCaught(ingress_problems, "/oauth2/introspect -> auth-server:http: routes /oauth2/")
        self.assertCaught(ingress_problems, "/ -> auth-server:http: covers /oauth2/introspect")
        self.assertCaught(ingress_problems, "/status -> auth-server:admin: the admin port is exposed")
        container = main_container(self.docs, "resource-gateway")
        container["env"] = [e for e in container["env"] if not e["name"].endswith("_ADMIN_LISTEN_ADDR")]
        self.assertCaught(ingress_problems, "covers /metrics, which the service serves on this port")

    def test_no_default_deny(self):
        self.docs = [doc for doc in self.docs if name_of(doc) != "NetworkPolicy/default-deny"]
        self.assertCaught(network_policy_problems, "no default-deny")

    def test_a_mounted_config_map_that_is_not_rendered(self):
        routes = "resource-gateway-routes"
        self.docs = [doc for doc in self.docs if not doc["metadata"]["name"].startswith(routes)]
        self.assertCaught(config_map_problems, "volume routes mounts ConfigMap")

    def test_prod_rules_on_a_dev_overlay(self):
        self.assertCaught(prod_problems, "Deployment/auth-server: 1 replicas in prod (at least 3)")
        self.assertCaught(prod_problems, "AUTH_TLS__CERT_FILE unset")
        self.assertCaught(prod_problems, "readinessProbe is not over HTTPS")
        self.assertCaught(prod_problems, "has no TLS")

    def test_a_stale_sql_copy(self):
        with tempfile.TemporaryDirectory() as folder:
            k8s, sql = pathlib.Path(folder, "k8s"), pathlib.Path(folder, "sql")
            (k8s / "base" / "sql").mkdir(parents=True)
            sql.mkdir()
            for name in GRANT_FILES:
                (sql / name).write_text("GRANT ...;\n")
            (k8s / "base" / "sql" / GRANT_FILES[0]).write_text("GRANT ...;\n")
            (k8s / "base" / "sql" / GRANT_FILES[1]).write_text("GRANT old;\n")
            problems = sql_copy_problems(k8s, sql)
            self.assertEqual(1, len(problems), problems)
            self.assertIn("email-grants.sql differs", problems[0])


if __name__ == "__main__":
    unittest.main()

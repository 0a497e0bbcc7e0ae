#!/usr/bin/env python3
"""Self-tests of `.ci/validate_deploy.py` and `deploy/k8s/crd-schemas/extract.py`, on small inline
manifests; no network (one test renders a temporary overlay with `kubectl kustomize`).

    python3 .ci/test_validate_deploy.py
"""

import contextlib
import importlib.util
import io
import pathlib
import sys
import tempfile
import textwrap
import unittest

import jsonschema

HERE = pathlib.Path(__file__).resolve().parent


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


validate_deploy = load("validate_deploy", HERE / "validate_deploy.py")
extract = load("extract", HERE.parent / "deploy" / "k8s" / "crd-schemas" / "extract.py")


def problems(text):
    """(JSON path, message) of the one document in the YAML text."""
    [document] = validate_deploy.documents(textwrap.dedent(text))
    return validate_deploy.validate_document(document)


DEPLOYMENT = """
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: auth-server, labels: {app: auth-server}}
    spec:
      selector: {matchLabels: {app: auth-server}}
      template:
        metadata: {labels: {app: auth-server}}
        spec:
          containers:
            - name: auth-server
              image: auth-server:1.0.0
              %s
              resources: {limits: {cpu: "1", memory: 256Mi}}
"""

CONTAINER = "$.spec.template.spec.containers[0]"

CLUSTER = """
    apiVersion: postgresql.cnpg.io/v1
    kind: Cluster
    metadata: {name: auth-db, labels: {app: auth-db}}
    spec:
      instances: 3
      storage: {%s: 10Gi}
      bootstrap: {initdb: {database: auth, owner: auth}}
      postgresql: {parameters: {max_connections: "200"}}
      resources: {requests: {cpu: 500m, memory: 1Gi}}
"""


class BuiltInKinds(unittest.TestCase):
    def test_a_valid_deployment_passes(self):
        self.assertEqual(problems(DEPLOYMENT % "imagePullPolicy: Always"), [])

    def test_a_deployment_with_an_unknown_field_fails(self):
        self.assertEqual(
            problems(DEPLOYMENT % "imagePullPolcy: Always"),
            [(f"{CONTAINER}.imagePullPolcy", "unknown field")],
        )

    def test_every_error_of_a_document_is_reported(self):
        found = problems(
            """
            apiVersion: v1
            kind: Service
            metadata: {name: web}
            spec: {ports: [{port: eighty}], typo: 1}
            """
        )
        self.assertEqual([path for path, _ in found], ["$.spec.ports[0].port", "$.spec.typo"])

    def test_an_unquoted_date_stays_a_string(self):
        config_map = "{apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {since: 2024-01-01}}"
        self.assertEqual(problems(config_map), [])


class CustomKinds(unittest.TestCase):
    def test_a_valid_cnpg_cluster_passes(self):
        self.assertEqual(problems(CLUSTER % "size"), [])

    def test_a_cnpg_cluster_with_a_misspelt_field_fails(self):
        self.assertEqual(problems(CLUSTER % "sizee"), [("$.spec.storage.sizee", "unknown field")])

    def test_a_wrong_type_fails(self):
        [(path, message)] = problems(CLUSTER.replace("instances: 3", "instances: three") % "size")
        self.assertEqual(path, "$.spec.instances")
        self.assertIn("not of type 'integer'", message)

    def test_metadata_is_checked_as_object_meta(self):
        found = problems(CLUSTER.replace("labels:", "labelz:") % "size")
        self.assertEqual(found, [("$.metadata.labelz", "unknown field")])

    def test_a_version_the_operator_does_not_serve_fails_and_names_the_stored_one(self):
        old = "{apiVersion: external-secrets.io/v1beta1, kind: ExternalSecret, metadata: {name: s}}"
        [(path, message)] = problems(old)
        self.assertEqual(path, "$")
        self.assertIn("no schema", message)
        self.assertIn("stored: external-secrets.io/v1", message)


class UnknownKinds(unittest.TestCase):
    def test_an_unknown_kind_fails(self):
        [(path, message)] = problems("{apiVersion: example.com/v1, kind: Widget, metadata: {name: w}}")
        self.assertEqual(path, "$")
        self.assertIn("example.com/v1 Widget: not a built-in kind and no schema", message)

    def test_a_group_that_only_looks_built_in_is_not(self):
        [(_, message)] = problems("{apiVersion: apps.example.com/v1, kind: Deployment, metadata: {name: d}}")
        self.assertIn("no schema", message)

    def test_an_unknown_built_in_kind_fails(self):
        [(_, message)] = problems("{apiVersion: apps/v1, kind: Deploymint, metadata: {name: d}}")
        self.assertIn(f"Deploymint: not in Kubernetes {validate_deploy.KUBERNETES_VERSION} and no schema", message)

    def test_a_document_without_kind_fails(self):
        self.assertEqual(len(problems("{apiVersion: v1, metadata: {name: x}}")), 1)


class StrictSchema(unittest.TestCase):
    def errors(self, schema, instance):
        validator = jsonschema.Draft202012Validator(validate_deploy.strict_schema(schema))
        return validate_deploy.findings(validator.iter_errors(instance))

    def test_undeclared_fields_are_rejected_unless_preserved(self):
        schema = {
            "type": "object",
            "properties": {
                "a": {"type": "object", "properties": {"x": {"type": "string"}}},
                "b": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "c": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        }
        instance = {"a": {"y": "1"}, "b": {"y": 1}, "c": {"y": "1"}}
        self.assertEqual(self.errors(schema, instance), [("$.a.y", "unknown field")])
        self.assertEqual(self.errors(schema, {"d": 1}), [("$.d", "unknown field")])

    def test_nullable(self):
        nullable = {"type": "string", "nullable": True, "enum": ["a"]}
        schema = {"type": "object", "properties": {"n": nullable, "s": {"type": "string"}}}
        self.assertEqual(self.errors(schema, {"n": None}), [])
        self.assertEqual([path for path, _ in self.errors(schema, {"s": None})], ["$.s"])

    def test_int_or_string(self):
        quantity = {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}
        schema = {"type": "object", "properties": {"q": quantity}}
        self.assertEqual(self.errors(schema, {"q": 1}), [])
        self.assertEqual(self.errors(schema, {"q": "50%"}), [])
        self.assertEqual({path for path, _ in self.errors(schema, {"q": 1.5})}, {"$.q"})

    def test_openapi_boolean_exclusive_minimum(self):
        schema = {"type": "integer", "minimum": 0, "exclusiveMinimum": True}
        self.assertEqual(len(self.errors(schema, 0)), 1)
        self.assertEqual(self.errors(schema, 1), [])

    def test_branches_of_any_of_only_add_constraints(self):
        schema = {
            "type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
            "anyOf": [{"required": ["a"], "properties": {"a": {}}}, {"required": ["b"]}],
        }
        self.assertEqual(self.errors(schema, {"a": "1", "b": "2"}), [])


class Overlays(unittest.TestCase):
    def test_a_rendered_overlay_names_the_overlay_the_object_and_the_path(self):
        with tempfile.TemporaryDirectory() as folder:
            overlay = pathlib.Path(folder)
            (overlay / "kustomization.yaml").write_text("resources: [deployment.yaml]\n")
            (overlay / "deployment.yaml").write_text(textwrap.dedent(DEPLOYMENT % "imagePullPolcy: Always"))
            with contextlib.redirect_stdout(io.StringIO()) as out:
                found = validate_deploy.step_k8s([overlay])
        self.assertIn("1 documents", out.getvalue())
        self.assertEqual(
            found,
            [f"{overlay}: Deployment/auth-server: {CONTAINER}.imagePullPolcy: unknown field"],
        )

    def test_no_overlay_is_skipped_with_a_line(self):
        with contextlib.redirect_stdout(io.StringIO()) as out:
            self.assertEqual(validate_deploy.step_k8s([]), [])
        self.assertIn("skipped", out.getvalue())


class Compose(unittest.TestCase):
    def test_required_variables_are_read(self):
        text = "A: ${DB_PASSWORD:?set it}\nB: ${TOKEN?x}\nC: ${OPTIONAL:-x}\nD: ${DB_PASSWORD:?again}\n"
        self.assertEqual(validate_deploy.required_variables(text), ["DB_PASSWORD", "TOKEN"])


class Extract(unittest.TestCase):
    CRD = """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        spec:
          group: example.com
          names: {kind: Widget}
          versions:
            - name: v1
              served: true
              schema:
                openAPIV3Schema:
                  description: a widget
                  type: object
                  properties:
                    description: {type: string, description: the property named description}
                    items: {type: array, items: {type: string, description: x}}
            - name: v1beta1
              served: false
              schema: {openAPIV3Schema: {type: object}}
    """

    def test_served_versions_without_descriptions(self):
        found, notes = extract.schemas_in(textwrap.dedent(self.CRD), set())
        self.assertEqual(
            found,
            [
                (
                    "example.com_v1_Widget.json",
                    {
                        "type": "object",
                        "properties": {
                            "description": {"type": "string"},
                            "items": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                )
            ],
        )
        self.assertEqual(notes, ["skipped example.com_v1beta1_Widget.json: not served by this CRD"])


if __name__ == "__main__":
    sys.exit(unittest.main(verbosity=1))

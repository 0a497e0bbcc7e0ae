#!/usr/bin/env python3
"""Writes the `openAPIV3Schema` of each served version of each CustomResourceDefinition in a CRD
YAML file as `<group>_<version>_<Kind>.json` next to this script (or in `--out`).

Only what validation needs is kept: the schema, without the `description` texts (they are most of
the size and checked by nothing). Versions the CRD does not serve are left out: the API server
rejects them, so a manifest using one must fail validation.

    python3 extract.py CRD.yaml [CRD.yaml ...] [--kind Kind ...] [--out DIR]
    curl -fsSL URL | python3 extract.py - --kind Cluster

Needs PyYAML. See README.md for the sources and the refresh commands.
"""

import argparse
import json
import pathlib
import sys

import yaml

HERE = pathlib.Path(__file__).resolve().parent

# Keywords whose value is one schema, a list of schemas, or a map of name to schema.
ONE_SCHEMA = ("items", "additionalProperties", "not")
SCHEMA_LIST = ("allOf", "anyOf", "oneOf")
SCHEMA_MAP = ("properties", "patternProperties")


def strip_descriptions(node):
    """The schema without `description` keywords. A property *named* `description` is kept."""
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "description":
            continue
        if key in ONE_SCHEMA:
            out[key] = strip_descriptions(value)
        elif key in SCHEMA_LIST:
            out[key] = [strip_descriptions(item) for item in value]
        elif key in SCHEMA_MAP:
            out[key] = {name: strip_descriptions(schema) for name, schema in value.items()}
        else:
            out[key] = value
    return out


def schemas_in(text, kinds):
    """(file name, schema) for each served version of each CRD in the text, and notes on the rest."""
    found, notes = [], []
    for document in yaml.safe_load_all(text):
        if not document or document.get("kind") != "CustomResourceDefinition":
            continue
        spec = document["spec"]
        kind, group = spec["names"]["kind"], spec["group"]
        if kinds and kind not in kinds:
            continue
        for version in spec["versions"]:
            name = f"{group}_{version['name']}_{kind}.json"
            if not version.get("served", False):
                notes.append(f"skipped {name}: not served by this CRD")
                continue
            schema = version.get("schema", {}).get("openAPIV3Schema")
            if schema is None:
                notes.append(f"skipped {name}: no openAPIV3Schema")
                continue
            found.append((name, strip_descriptions(schema)))
    return found, notes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", help="CRD YAML files, or - for standard input")
    parser.add_argument("--kind", action="append", default=[], help="only this kind (repeatable)")
    parser.add_argument("--out", type=pathlib.Path, default=HERE, help="output folder")
    args = parser.parse_args()
    written = 0
    for file in args.files:
        text = sys.stdin.read() if file == "-" else pathlib.Path(file).read_text()
        found, notes = schemas_in(text, set(args.kind))
        for note in notes:
            print(f"{file}: {note}")
        for name, schema in found:
            (args.out / name).write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
            print(f"{file}: wrote {name}")
            written += 1
    if not written:
        print("no schema written (is the kind spelt as in spec.names.kind?)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

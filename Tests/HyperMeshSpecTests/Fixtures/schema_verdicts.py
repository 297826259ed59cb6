"""Validates YAML documents against Specs/*.schema.json with an independent validator.

Reads JSON from stdin: {"schemas": DIR, "documents": [{"name": N, "yaml": TEXT}, ...]}.
Writes JSON to stdout: {N: true|false, ...} (true: the schema accepts the document).
"""
import json
import pathlib
import sys

import jsonschema
import yaml


class CoreSchemaLoader(yaml.SafeLoader):
    """YAML 1.2 core schema scalars, as HyperMesh reads them (no yes/no booleans, no octal 0600)."""


CoreSchemaLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
import re
CoreSchemaLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def main():
    request = json.load(sys.stdin)
    schemas = {}
    for path in pathlib.Path(request["schemas"]).glob("*.schema.json"):
        schema = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        schemas[schema["title"]] = jsonschema.Draft202012Validator(schema)
    verdicts = {}
    for document in request["documents"]:
        try:
            value = yaml.load(document["yaml"], Loader=CoreSchemaLoader)
        except yaml.YAMLError:
            verdicts[document["name"]] = False
            continue
        validator = schemas.get(value.get("kind")) if isinstance(value, dict) else None
        verdicts[document["name"]] = validator is not None and validator.is_valid(value)
    json.dump(verdicts, sys.stdout)


main()

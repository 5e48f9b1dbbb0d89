"""The JSON Schema of the experiment format, for editors and other tools.

It is generated from the same pydantic model the loader validates with, so it covers exactly the fault and probe
kinds installed. Units (``250ms``, ``99%``, ``200/s``) are described by patterns; cross-checks (unique names,
existing targets) are the loader's alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaoskit.registry import Registry

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "urn:chaoskit:experiment:v1"


def experiment_schema(registry: Registry) -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) for experiment files, given the kinds in ``registry``."""
    from chaoskit.experiment.loader import experiment_model_for

    model = experiment_model_for(registry)
    body = model.model_json_schema(mode="validation")
    _drop_openapi_discriminators(body)
    schema: dict[str, Any] = {
        "$schema": SCHEMA_DIALECT,
        "$id": SCHEMA_ID,
        "title": "chaoskit experiment (format version 1)",
    }
    body.pop("title", None)
    schema.update(body)
    return schema


def _drop_openapi_discriminators(node: Any) -> None:
    """Remove pydantic's OpenAPI ``discriminator`` objects: ``oneOf`` with ``const`` tags already says it all,
    and some editors reject keywords they do not know."""
    if isinstance(node, dict):
        if isinstance(node.get("discriminator"), dict) and "propertyName" in node["discriminator"]:
            del node["discriminator"]
        for value in node.values():
            _drop_openapi_discriminators(value)
    elif isinstance(node, list):
        for value in node:
            _drop_openapi_discriminators(value)


__all__ = ["SCHEMA_DIALECT", "SCHEMA_ID", "experiment_schema"]

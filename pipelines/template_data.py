"""A troposphere template as plain data, in one walk.

`Template.to_dict()` calls troposphere's `encode_to_dict`, which asks each object for its
`to_dict()` and then walks the result again; every object's `to_dict()` does the same for the
objects inside it, so a value eight levels deep is walked eight times. That was about 40 % of
synth's own work. This walks each value once and gives the same data: the same validation of
each object (its required properties read from its public `props`), and troposphere's own
`to_dict()` for any class that defines its own.
"""

from __future__ import annotations

from typing import Any

from troposphere import AWSHelperFn, BaseAWSObject, Template


def template_data(template: Template) -> dict[str, Any]:
    """Exactly `template.to_dict()`."""
    sections = {
        "Description": template.description,
        "Metadata": template.metadata,
        "Conditions": template.conditions,
        "Mappings": template.mappings,
        "Outputs": template.outputs,
        "Parameters": template.parameters,
        "AWSTemplateFormatVersion": template.version,
        "Transform": template.transform,
        "Rules": template.rules,
        "Globals": template.globals,
    }
    data = {name: _plain(value) for name, value in sections.items() if value}
    data["Resources"] = _plain(template.resources)
    return data


_OWN_OBJECT_TO_DICT = BaseAWSObject.to_dict
_OWN_HELPER_TO_DICT = AWSHelperFn.to_dict


def _plain(value: Any) -> Any:
    # The common cases first; the order after them is encode_to_dict's.
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, BaseAWSObject) and type(value).to_dict is _OWN_OBJECT_TO_DICT:
        return _object(value)
    if isinstance(value, AWSHelperFn) and type(value).to_dict is _OWN_HELPER_TO_DICT:
        return _plain(value.data)
    if hasattr(value, "to_dict"):
        return _plain(value.to_dict())
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if hasattr(value, "JSONrepr"):
        return _plain(value.JSONrepr())
    return value


def _object(value: BaseAWSObject) -> dict[str, Any]:
    """BaseAWSObject.to_dict() without walking its result again."""
    if value.do_validation:
        _check_required(value)
        value.validate()
    if value.properties:
        data: dict[str, Any] = _plain(value.resource)
        return data
    if hasattr(value, "resource_type"):
        return {key: _plain(item) for key, item in value.resource.items() if key != "Properties"}
    return {}


def _check_required(value: BaseAWSObject) -> None:
    """Refuse a missing required property as troposphere's to_dict() does, in its words."""
    for name, (_, required) in value.props.items():
        if required and name not in value.properties:
            kind = getattr(value, "resource_type", type(value))
            message = f"Resource {name} required in type {kind}"
            if value.title:
                message += f" (title: {value.title})"
            raise ValueError(message)

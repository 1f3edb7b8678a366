"""Every generated template: its resource limit is our error, not troposphere's."""

from __future__ import annotations

import pytest
from troposphere import MAX_RESOURCES, sns

from pipelines.builders.template import new_template
from pipelines.errors import LimitError


def test_a_template_past_cloudformations_resource_limit_is_a_limit_error() -> None:
    template = new_template("shop: the approvals.")
    for i in range(MAX_RESOURCES):
        template.add_resource(sns.Topic(f"Topic{i}"))
    with pytest.raises(LimitError) as caught:
        template.add_resource(sns.Topic("OneTooMany"))
    assert caught.value.messages == [
        "shop: the approvals.: more than 500 resources; CloudFormation allows 500 in a stack"
    ]

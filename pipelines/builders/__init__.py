"""Model -> troposphere Template, one function per stack kind."""

from pipelines.imports import import_deferred, import_with_stand_in

# troposphere imports cfn_flip at import time, only for Template.to_yaml, which synth never
# calls: cfn_flip brings in logging and three packages of its own.
import_deferred("cfn_flip")


class _Globals:
    """Where troposphere's Template names SAM's Globals (never set: these are not SAM templates)."""


# troposphere's Template class imports troposphere.serverless in its body, only to name
# `Globals` in annotations. That module imports the Lambda, API Gateway, DynamoDB and Step
# Functions modules and their validators: ten modules, about 4 ms of a 160 ms synth.
import_with_stand_in("troposphere", "troposphere.serverless", Globals=_Globals)

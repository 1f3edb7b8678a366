"""The invoker Lambda: admits a deploy-runner request through the allow-list and runs the job.

Runs in AWS Lambda's Python runtime, which has the standard library and boto3 and nothing else:
these modules import only those and the leaf modules of `pipelines` (naming, patterns,
aws_facts). Synth packages this directory as it is (pipelines/invoker_package.py); the
synth side imports only its pure modules (allowlist, document, names), never the reverse.
"""

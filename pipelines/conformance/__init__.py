"""Conformance: the AWS rules the templates must keep that moto and cfn-lint do not check
(quotas, permissions, cross-account rules), one module per rule, each with AWS's documentation.

`rules.SYNTH_RULES` run on every synth, on the rendered templates, before anything is written;
`datasets.DATASET_RULES` add the checks that read AWS's machine-readable data, in `pipelines
check`. See docs/conformance.md.
"""

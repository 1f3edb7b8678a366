"""The built-in jobs the deploy runner starts in its containers (CodeBuild or ECS):
`python -m pipelines.jobs cloudformation plan|apply`, `terraform plan|apply`, `build`."""

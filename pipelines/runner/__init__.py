"""Deploy-runner: allow-listed jobs (plans, applies, builds, migrations) run in CodeBuild or ECS."""

"""Release containers to Amazon ECS across environments and accounts."""

__version__ = "0.1.0"

"""The GraphQL surface: strawberry types and resolvers, thin over the api services."""

import schema.enums  # noqa: F401  (registers enums before any type module loads)

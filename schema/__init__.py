"""The GraphQL surface: strawberry types and resolvers, thin over the api services."""

"""The root types: each domain module contributes a Queries and a Mutations class."""

from __future__ import annotations

import strawberry
from strawberry import relay
from strawberry.tools import merge_types

from schema.admin import AdminMutations, AdminQueries
from schema.leads import LeadMutations, LeadQueries
from schema.permissions import RoleGuard
from schema.qualification import QualificationMutations, QualificationQueries


@strawberry.type
class NodeQuery:
    node: relay.Node | None = relay.node(description="Any object by its global id")


Query = merge_types("Query", (NodeQuery, LeadQueries, QualificationQueries, AdminQueries))
Mutation = merge_types("Mutation", (LeadMutations, QualificationMutations, AdminMutations))


def build_schema() -> strawberry.Schema:
    return strawberry.Schema(query=Query, mutation=Mutation, extensions=[RoleGuard])

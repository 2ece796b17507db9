"""The root types: each domain module contributes a Queries and a Mutations class."""

from __future__ import annotations

import strawberry
from strawberry import relay
from strawberry.tools import merge_types

from api.settings import Settings, get_settings
from schema.accounts import AccountQueries
from schema.activities import ActivityMutations
from schema.admin import AdminMutations, AdminQueries
from schema.audit import AuditQueries
from schema.campaigns import CampaignMutations, CampaignQueries
from schema.deals import DealMutations, DealQueries
from schema.distribution import DistributionQueries
from schema.error_log import LeadgateSchema
from schema.feedback import FeedbackMutations
from schema.handoffs import HandoffMutations, HandoffQueries
from schema.hardening import hardening_extensions
from schema.leads import LeadMutations, LeadQueries
from schema.lean_fields import LeanExecutor, lean_fields
from schema.metrics import MetricMutations, MetricQueries
from schema.permissions import RoleGuard
from schema.privacy import PrivacyMutations
from schema.qualification import QualificationMutations, QualificationQueries
from schema.reps import RepMutations, RepQueries
from schema.root_guards import guard_root_fields
from schema.routing import RoutingQueries
from schema.rulebook import RulebookQueries
from schema.rulebook_versions import RulebookVersionMutations, RulebookVersionQueries
from schema.shadow import ShadowMutations, ShadowQueries
from schema.simulation import SimulationQueries
from schema.subscriptions import Subscription
from schema.targeting import TargetingMutations, TargetingQueries
from schema.webhooks import WebhookMutations, WebhookQueries
from schema.worktime import WorkTimeMutations


@strawberry.type
class NodeQuery:
    # A resolver, not relay.node(): that field can be bound to one schema only, and the CLI
    # and the tests build more than one.
    @strawberry.field(description="Any object by its global id")
    async def node(self, info: strawberry.Info, id: relay.GlobalID) -> relay.Node | None:
        try:
            return await id.resolve_node(info)
        except (KeyError, ValueError):  # unknown type name or malformed id
            return None


Query = merge_types(
    "Query",
    (
        NodeQuery,
        LeadQueries,
        QualificationQueries,
        HandoffQueries,
        RulebookQueries,
        TargetingQueries,
        AdminQueries,
        DealQueries,
        MetricQueries,
        WebhookQueries,
        RepQueries,
        DistributionQueries,
        CampaignQueries,
        AccountQueries,
        AuditQueries,
        RoutingQueries,
        RulebookVersionQueries,
        SimulationQueries,
        ShadowQueries,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        LeadMutations,
        QualificationMutations,
        ActivityMutations,
        HandoffMutations,
        FeedbackMutations,
        AdminMutations,
        DealMutations,
        MetricMutations,
        WebhookMutations,
        RepMutations,
        WorkTimeMutations,
        CampaignMutations,
        PrivacyMutations,
        TargetingMutations,
        RulebookVersionMutations,
        ShadowMutations,
    ),
)


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    settings = settings or get_settings()
    schema = LeadgateSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[RoleGuard, *hardening_extensions(settings)],
        execution_context_class=LeanExecutor,
    )
    lean_fields(schema)
    guard_root_fields(schema)
    return schema

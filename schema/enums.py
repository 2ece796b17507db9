"""Registers the domain enums with strawberry once, before any type uses them."""

import strawberry

from api.enums import EvaluationTrigger, HandoffStatus, LifecycleStage, Role

strawberry.enum(LifecycleStage, description="Where a lead is in the funnel")
strawberry.enum(EvaluationTrigger, description="What started an evaluation")
strawberry.enum(HandoffStatus, description="Where a handoff stands")
strawberry.enum(Role, description="What an API key may do")

"""Routing: which model runs a step for a tenant — registry, task tiers, catalogs, overrides, resolver."""

from focal.routing.catalogs import AgentCatalog, AgentCatalogs, StepModelConfig
from focal.routing.config import load_routing_config, validate_paths
from focal.routing.overrides import OverrideRepository, TenantOverride, check_tenant_id
from focal.routing.registry import (
    ModelInfo,
    ModelRef,
    ModelRegistry,
    ProviderConnection,
    ProviderKind,
    parse_model_ref,
)
from focal.routing.resolver import ModelResolver, Resolution, ResolutionSource, default_fallback_chain
from focal.routing.steps import ALL_STEPS, STEP_DEFAULT_TASKS, PipelineStep
from focal.routing.tasks import (
    TASK_TIER_MAP,
    CustomTask,
    TaskType,
    Tier,
    get_tasks_for_tier,
    get_tier_for_task,
    is_known_task,
    normalize_task_type,
)

__all__ = [
    "ALL_STEPS",
    "STEP_DEFAULT_TASKS",
    "TASK_TIER_MAP",
    "AgentCatalog",
    "AgentCatalogs",
    "CustomTask",
    "ModelInfo",
    "ModelRef",
    "ModelRegistry",
    "ModelResolver",
    "OverrideRepository",
    "PipelineStep",
    "ProviderConnection",
    "ProviderKind",
    "Resolution",
    "ResolutionSource",
    "StepModelConfig",
    "TaskType",
    "TenantOverride",
    "Tier",
    "check_tenant_id",
    "default_fallback_chain",
    "get_tasks_for_tier",
    "get_tier_for_task",
    "is_known_task",
    "load_routing_config",
    "normalize_task_type",
    "parse_model_ref",
    "validate_paths",
]

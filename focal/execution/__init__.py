"""Execution: the LLMExecutor contract, the Agno adapter, resilience, budgets and errors."""

from focal.execution.adapter import AgnoExecutor, CallRequest, ModelFactory
from focal.execution.breaker import BreakerPolicy, BreakerState, BreakerTicket, CircuitBreaker, CircuitBreakers
from focal.execution.budgets import (
    BudgetManager,
    BudgetPeriod,
    CostLimits,
    LimitAction,
    Reservation,
    TenantBudgetInfo,
    estimate_call_cost,
)
from focal.execution.errors import (
    AllAttemptsFailedError,
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    CircuitOpenError,
    ConfigurationError,
    ContentFiltered,
    ContextWindowExceeded,
    DeadlineExceededError,
    ExecutionError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailable,
    RateLimitError,
    StreamInterruptedError,
    StructuredOutputError,
)
from focal.execution.fallback import FallbackPolicy
from focal.execution.protocol import LLMExecutor, SyncExecutor
from focal.execution.resilient import CallPlan, ResilientExecutor
from focal.execution.retry import RetryPolicy
from focal.execution.types import Attempt, ExecutionContext, LLMResponse, Message, Role, StreamChunk, TokenUsage

__all__ = [
    "AgnoExecutor",
    "AllAttemptsFailedError",
    "Attempt",
    "AuthenticationError",
    "BadRequestError",
    "BreakerPolicy",
    "BreakerState",
    "BreakerTicket",
    "BudgetExceededError",
    "BudgetManager",
    "BudgetPeriod",
    "CallPlan",
    "CallRequest",
    "CircuitBreaker",
    "CircuitBreakers",
    "CircuitOpenError",
    "ConfigurationError",
    "ContentFiltered",
    "ContextWindowExceeded",
    "CostLimits",
    "DeadlineExceededError",
    "ExecutionContext",
    "ExecutionError",
    "FallbackPolicy",
    "LLMExecutor",
    "LLMResponse",
    "LimitAction",
    "Message",
    "ModelFactory",
    "ProviderError",
    "ProviderTimeoutError",
    "ProviderUnavailable",
    "RateLimitError",
    "Reservation",
    "ResilientExecutor",
    "RetryPolicy",
    "Role",
    "StreamChunk",
    "StreamInterruptedError",
    "StructuredOutputError",
    "SyncExecutor",
    "TenantBudgetInfo",
    "TokenUsage",
    "estimate_call_cost",
]

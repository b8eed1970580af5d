"""What an agent obeys: profile, rules, scenarios, templates and tool bindings; authored as YAML
folders, validated with errors that name the place, versioned by content hash."""

from focal.alignment._base import Scope, VariableSpec
from focal.alignment.bindings import ToolBinding, ToolTiming
from focal.alignment.cache import ConfigCache
from focal.alignment.config import AlignmentConfig, compile_config
from focal.alignment.document import BUILTIN_VARIABLES, AlignmentDocument
from focal.alignment.enforcement import check_hard_rules
from focal.alignment.expressions import UNKNOWN, Expression, ExpressionError, Unknown, compile_expression
from focal.alignment.folder import Sources, read_folder, write_folder
from focal.alignment.journeys import (
    SkipPath,
    TransitionDecision,
    next_step,
    skippable_steps,
    user_values,
    validate_variables,
)
from focal.alignment.profile import AgentProfile
from focal.alignment.ranking import BM25Ranker, RankedText, Ranker, RankIndex, tokenize
from focal.alignment.reconcile import Reconciliation, reconcile
from focal.alignment.retrieval import (
    DroppedRule,
    DroppedScenario,
    RankedRule,
    RetrievalIndex,
    RetrievalResult,
    RuleDecision,
    ScenarioCandidate,
    apply_relationships,
    index_for,
    retrieve,
)
from focal.alignment.rules import Rule
from focal.alignment.scenarios import Scenario, ScenarioStep, StepTransition
from focal.alignment.session import AlignmentState, Situation, turn_variables
from focal.alignment.templates import Template, TemplateMode
from focal.alignment.tool_catalog import ToolCatalog, ToolSpec
from focal.alignment.turn import (
    EnforcementOutcome,
    GenerationAttempt,
    RuleOutcome,
    ScenarioMove,
    SkippedCall,
    StepModel,
    ToolOutcome,
    TurnInput,
    TurnRecord,
    TurnResult,
    Verdict,
)
from focal.alignment.validation import validate_document

__all__ = [
    "BUILTIN_VARIABLES",
    "UNKNOWN",
    "AgentProfile",
    "AlignmentConfig",
    "AlignmentDocument",
    "AlignmentState",
    "BM25Ranker",
    "ConfigCache",
    "DroppedRule",
    "DroppedScenario",
    "EnforcementOutcome",
    "Expression",
    "ExpressionError",
    "GenerationAttempt",
    "RankIndex",
    "RankedRule",
    "RankedText",
    "Ranker",
    "Reconciliation",
    "RetrievalIndex",
    "RetrievalResult",
    "Rule",
    "RuleDecision",
    "RuleOutcome",
    "Scenario",
    "ScenarioCandidate",
    "ScenarioMove",
    "ScenarioStep",
    "Scope",
    "Situation",
    "SkipPath",
    "SkippedCall",
    "Sources",
    "StepModel",
    "StepTransition",
    "Template",
    "TemplateMode",
    "ToolBinding",
    "ToolCatalog",
    "ToolOutcome",
    "ToolSpec",
    "ToolTiming",
    "TransitionDecision",
    "TurnInput",
    "TurnRecord",
    "TurnResult",
    "Unknown",
    "VariableSpec",
    "Verdict",
    "apply_relationships",
    "check_hard_rules",
    "compile_config",
    "compile_expression",
    "index_for",
    "load_folder",
    "next_step",
    "read_folder",
    "reconcile",
    "retrieve",
    "skippable_steps",
    "tokenize",
    "turn_variables",
    "user_values",
    "validate_document",
    "validate_variables",
    "write_folder",
]


def load_folder(folder, catalog: ToolCatalog) -> tuple[AlignmentDocument, dict[str, Expression]]:  # type: ignore[no-untyped-def]
    """Read and validate an agent's folder: the document and its compiled expressions.

    Raises:
        ConfigError: listing every problem, each with file, key path and line.
    """
    document, sources = read_folder(folder)
    return document, validate_document(document, catalog, sources)

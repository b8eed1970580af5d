"""What an agent obeys: profile, rules, scenarios, templates and tool bindings; authored as YAML
folders, validated with errors that name the place, versioned by content hash."""

from focal.alignment._base import Scope, VariableSpec
from focal.alignment.bindings import ToolBinding, ToolTiming
from focal.alignment.config import AlignmentConfig, compile_config
from focal.alignment.document import BUILTIN_VARIABLES, AlignmentDocument
from focal.alignment.expressions import UNKNOWN, Expression, ExpressionError, Unknown, compile_expression
from focal.alignment.folder import Sources, read_folder, write_folder
from focal.alignment.profile import AgentProfile
from focal.alignment.rules import Rule
from focal.alignment.scenarios import Scenario, ScenarioStep, StepTransition
from focal.alignment.templates import Template, TemplateMode
from focal.alignment.tool_catalog import ToolCatalog, ToolSpec
from focal.alignment.validation import validate_document

__all__ = [
    "BUILTIN_VARIABLES",
    "UNKNOWN",
    "AgentProfile",
    "AlignmentConfig",
    "AlignmentDocument",
    "Expression",
    "ExpressionError",
    "Rule",
    "Scenario",
    "ScenarioStep",
    "Scope",
    "Sources",
    "StepTransition",
    "Template",
    "TemplateMode",
    "ToolBinding",
    "ToolCatalog",
    "ToolSpec",
    "ToolTiming",
    "Unknown",
    "VariableSpec",
    "compile_config",
    "compile_expression",
    "load_folder",
    "read_folder",
    "validate_document",
    "write_folder",
]


def load_folder(folder, catalog: ToolCatalog) -> tuple[AlignmentDocument, dict[str, Expression]]:  # type: ignore[no-untyped-def]
    """Read and validate an agent's folder: the document and its compiled expressions.

    Raises:
        ConfigError: listing every problem, each with file, key path and line.
    """
    document, sources = read_folder(folder)
    return document, validate_document(document, catalog, sources)

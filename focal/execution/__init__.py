"""Execution: the LLMExecutor contract, the Agno adapter, resilience, budgets and errors."""

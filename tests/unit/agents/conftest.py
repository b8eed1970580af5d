"""A small compiled configuration: a profile, rules (two hard), a refund scenario of three steps."""

from __future__ import annotations

import pytest

from focal.alignment import (
    AgentProfile,
    AlignmentConfig,
    AlignmentDocument,
    Rule,
    Scenario,
    ScenarioStep,
    StepTransition,
    Template,
    VariableSpec,
    compile_config,
)

ORDER_ID = VariableSpec(name="order_id", pattern=r"ORD-\d{5}", description="The order number")
REASON = VariableSpec(name="reason", description="Why the customer wants a refund")


@pytest.fixture(scope="session")
def config() -> AlignmentConfig:
    document = AlignmentDocument(
        profile=AgentProfile(
            agent_id="support",
            name="Ava",
            persona="A friendly support agent of the Acme shop.",
            fallback_reply="Sorry, I cannot help with that.",
            variables=(VariableSpec(name="vip", type="boolean"),),
        ),
        rules=(
            Rule(id="greet", name="Greeting", when="The user greets", then="Greet back and offer help"),
            Rule(
                id="refund_limit",
                name="Refund limit",
                when="A refund is discussed",
                then="Never promise a refund above 50 USD",
                hard=True,
                priority=10,
            ),
            Rule(
                id="no_profanity",
                name="Politeness",
                when="Always, in every reply",
                then="Never use profanity",
                hard=True,
            ),
            Rule(
                id="order_status",
                name="Order status",
                when="The user asks where an order is",
                then="Ask for the order number",
                templates=("ask_order",),
            ),
        ),
        templates=(Template(id="ask_order", text="Could you give me your order number?"),),
        scenarios=(
            Scenario(
                id="refund",
                name="Refund request",
                entry_when="The user asks for a refund",
                entry_step="collect_order",
                steps=(
                    ScenarioStep(
                        id="collect_order",
                        instructions="Ask for the order number.",
                        collects=(ORDER_ID,),
                        transitions=(StepTransition(to="collect_reason", when="The order number is known"),),
                    ),
                    ScenarioStep(
                        id="collect_reason",
                        instructions="Ask why the customer wants a refund.",
                        collects=(REASON,),
                        transitions=(
                            StepTransition(to="confirm", when="The reason is known", priority=1),
                            StepTransition(to="collect_order", when="The order number was wrong"),
                        ),
                    ),
                    ScenarioStep(id="confirm", instructions="Confirm the refund.", terminal=True),
                ),
            ),
            Scenario(
                id="address_change",
                name="Address change",
                entry_when="The user wants to change an address",
                entry_step="ask",
                steps=(ScenarioStep(id="ask", instructions="Ask for it.", terminal=True),),
            ),
        ),
    )
    return compile_config(document, tenant_id="acme")

"""A version is the content hash: same content, same version; any change, a new one; export round-trips."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from focal.alignment import AlignmentDocument, ToolCatalog, load_folder, read_folder, write_folder
from tests.unit.alignment.conftest import SUPPORT

BASE, _ = read_folder(SUPPORT)


def test_the_order_of_items_does_not_count() -> None:
    shuffled = BASE.model_copy(update={"rules": tuple(reversed(BASE.rules)), "scenarios": BASE.scenarios[::-1]})
    assert shuffled.version == BASE.version


@settings(max_examples=60, deadline=None)
@given(index=st.integers(0, len(BASE.rules) - 1), field=st.sampled_from(["name", "then", "priority", "enabled"]))
def test_any_change_to_a_rule_is_a_new_version(index: int, field: str) -> None:
    rule = BASE.rules[index]
    value = getattr(rule, field)
    changed_value = (not value) if isinstance(value, bool) else value + 1 if isinstance(value, int) else value + "!"
    rules = list(BASE.rules)
    rules[index] = rule.model_copy(update={field: changed_value})
    assert BASE.model_copy(update={"rules": tuple(rules)}).version != BASE.version


@settings(max_examples=40, deadline=None)
@given(text=st.text(min_size=1, max_size=200).filter(lambda t: t.strip() and t.strip() != BASE.profile.persona))
def test_any_persona_is_its_own_version_and_stable(text: str) -> None:
    profile = BASE.profile.model_copy(update={"persona": text.strip()})
    first = BASE.model_copy(update={"profile": profile})
    again = AlignmentDocument.model_validate(first.model_dump())
    assert first.version == again.version != BASE.version


def test_export_of_an_import_reimports_to_the_same_version(tmp_path: Path, catalog: ToolCatalog) -> None:
    document, _ = load_folder(SUPPORT, catalog)
    write_folder(document, tmp_path / "out")
    again, _ = load_folder(tmp_path / "out", catalog)
    assert again.version == document.version and again == document
    write_folder(again, tmp_path / "out2")
    assert {p.relative_to(tmp_path / "out"): p.read_text() for p in (tmp_path / "out").rglob("*.yaml")} == {
        p.relative_to(tmp_path / "out2"): p.read_text() for p in (tmp_path / "out2").rglob("*.yaml")
    }

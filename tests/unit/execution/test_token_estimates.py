"""Token estimates behind reservations bound what byte-level tokenizers can make of any script."""

from __future__ import annotations

import pytest

from focal.execution import Message, Role
from focal.execution.budgets import estimate_prompt_tokens, estimate_text_tokens

# (text, the most tokens a byte-level BPE tokenizer can make of it: one per UTF-8 byte of each
# non-ASCII character; ASCII prose at a third of its length is the estimate's stated assumption)
SCRIPTS = [
    ("The quick brown fox jumps over the lazy dog. " * 20, None),
    ("北京是中国的首都\uff0c也是一座历史悠久的城市。" * 50, "cjk"),
    ("東京は日本の首都です。" * 50, "cjk"),
    ("서울은 한국의 수도입니다. " * 50, "cjk"),
    ("🙂🚀👍🏽" * 40, "emoji"),
    ("Привет, мир! " * 40, "cyrillic"),
]


@pytest.mark.parametrize(("text", "script"), SCRIPTS)
def test_non_ascii_text_is_estimated_at_one_token_per_byte(text: str, script: str | None) -> None:
    ascii_chars = sum(1 for c in text if c.isascii())
    non_ascii_bytes = sum(len(c.encode()) for c in text if not c.isascii())
    assert estimate_text_tokens(text) == ascii_chars // 3 + non_ascii_bytes + 1
    prompt = estimate_prompt_tokens([Message(Role.USER, text)], instructions=text)
    assert prompt == 2 * (ascii_chars // 3 + non_ascii_bytes) + 16
    if script is not None:  # at least as many tokens as characters, the most CJK tokenizers use
        assert estimate_text_tokens(text) > len(text)


def test_the_old_ascii_estimate_is_kept() -> None:
    assert estimate_text_tokens("") == 1
    assert estimate_text_tokens("a" * 300) == 101
    assert estimate_prompt_tokens([Message(Role.USER, "a" * 300), Message(Role.ASSISTANT, "b" * 30)]) == 110 + 24


def test_lone_surrogates_do_not_break_the_estimate() -> None:
    assert estimate_text_tokens("a\ud800b") == 4

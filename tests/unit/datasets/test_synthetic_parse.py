"""Parsing a generator's reply: what counts as a list of inputs, and the reason for everything that does not."""

from __future__ import annotations

import pytest

from tracewatch.datasets.synthetic._parse import BLANK, EMPTY, NOT_A_LIST, NOT_JSON, NOT_TEXT, parse_reply


def test_a_list_in_a_code_fence_with_raw_newlines_and_input_objects_is_read() -> None:
    parsed = parse_reply('```json\n["first\tone", {"input": " second "}, "line\nbreak"]\n```')
    assert parsed.inputs == ("first\tone", "second", "line\nbreak") and parsed.rejected == ()


@pytest.mark.parametrize(
    ("reply", "reason"),
    [("Here you go: what is Lyon?", NOT_JSON), ('{"input": "x"}', NOT_A_LIST), ("[]", EMPTY)],
)
def test_a_reply_that_is_no_list_of_inputs_is_one_rejection_with_its_reason(reply: str, reason: str) -> None:
    parsed = parse_reply(reply)
    assert parsed.inputs == () and [r for r, _ in parsed.rejected] == [reason]


def test_entries_that_are_not_texts_are_rejected_one_by_one_and_the_rest_kept() -> None:
    parsed = parse_reply('["kept", 42, "  ", {"other": "x"}]')
    assert parsed.inputs == ("kept",)
    assert [r for r, _ in parsed.rejected] == [NOT_TEXT, BLANK, NOT_TEXT]
    assert "entry 1" in parsed.rejected[0][1]

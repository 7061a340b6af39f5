"""The case files do not lean on greedy repeats: only a few checks compare two generated answers.

Many correct servers do not repeat greedy output bit for bit (prefix caches, batching, hosted APIs).
A check that compares an answer with another generated answer ("same" or "differ", see
conformance.cases.compare_mode) is judged inconclusive there, so the suite keeps such checks to the
few places where no other form exists, each saying so with an explicit `compare` and a `why`. A new
comparison has to be added to COMPARING on purpose, not slip in as `equals: ${greedy....}`.
"""

from __future__ import annotations

from conformance.cases import compare_mode, list_cases, step_name

# case id -> why its comparison stays
COMPARING = {
    "chat.seed.repeatable": "a seed is a promise to repeat",
    "completions.seed.repeatable": "a seed is a promise to repeat",
    "completions.best_of": "best_of is checked against the same seed's candidates",
    "chat.stream.same_text": "the non-streamed text is the only other record of what was written (copy prompt)",
    "completions.stream.same_text": "the non-streamed text is the only other record of what was written (count prompt)",
    "responses.stream.same_text": "the non-streamed text is the only other record of what was written (copy prompt)",
    "chat.logit_bias.ban": "the unbanned half leaves the greedy first token, which leads by far",
}


def comparing_checks() -> list[tuple[str, str, object]]:
    found = []
    for case in list_cases():
        for index, step in enumerate(case.steps):
            name = step_name(step, index, len(case.steps))
            found += [
                (case.id, compare_mode(e, name), e) for e in step.expect if compare_mode(e, name) != "none"
            ]
    return found


def test_only_the_listed_cases_compare_generated_answers() -> None:
    found = comparing_checks()
    unlisted = sorted({case_id for case_id, _, _ in found} - set(COMPARING))
    assert not unlisted, (
        f"these cases compare two generated answers (set compare: none if they do not): {unlisted}"
    )
    stale = sorted(set(COMPARING) - {case_id for case_id, _, _ in found})
    assert not stale, f"listed but no longer comparing: {stale}"


def test_every_comparison_says_so_and_why() -> None:
    for case_id, mode, exp in comparing_checks():
        assert exp.compare == mode, f"{case_id}: a comparing check sets compare: {mode} explicitly"
        assert exp.why, f"{case_id}: a comparing check says why it needs repeats"
    assert not [case_id for case_id, mode, _ in comparing_checks() if mode == "differ"], (
        "no check passes only because answers differ"
    )

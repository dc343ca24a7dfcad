"""The language-aware parts of the grounding and policy checks (issue 15, item 8):
each case here passed or failed wrongly with the English-only lexical checker."""

from __future__ import annotations

import logging

import pytest

from review.intake.checks import CheckInput, language, run_checker

SOURCE = ["Loan applications are reviewed within 5 days and approval is sent by email."]


def grounding(output, context=SOURCE, **options):
    return run_checker({"type": "grounding", **options},
                       CheckInput(item_id="itm", output=output, context=context))


def test_a_correct_paraphrase_is_supported():
    result = grounding("Approval of a loan application is emailed within five days.",
                       context=["Loan applications are reviewed within 5 days and approval "
                                "is sent by email. Emailed decisions are final."])
    assert (result.verdict, result.score) == ("pass", 1.0), result.reason


@pytest.mark.parametrize(("output", "context", "why"), [
    ("Loan applications are reviewed within 5 weeks.", SOURCE, "5 week not in the sources"),
    ("Loan applications are reviewed within 5 days and rejection is sent by email.", SOURCE,
     '"rejection" where the source says the opposite'),
    ("Die Rückerstattung wird nicht auf die ursprüngliche Zahlungsmethode gezahlt.",
     ["Die Rückerstattung wird auf die ursprüngliche Zahlungsmethode gezahlt."],
     "negates the source"),
    ("Permohonan pinjaman disemak dalam tempoh 5 minggu.",
     ["Permohonan pinjaman disemak dalam tempoh 5 hari."], "5 week not in the sources"),
    ("Sinusuri ang aplikasyon sa loob ng 5 linggo.",
     ["Sinusuri ang aplikasyon sa loob ng 5 araw."], "5 week not in the sources"),
    ("คำขอจะได้รับการพิจารณาภายใน 5 สัปดาห์", ["คำขอจะได้รับการพิจารณาภายใน 5 วัน"],
     "5 week not in the sources"),
    ("贷款申请将在5周内完成审核。", ["贷款申请将在5天内完成审核。"], "5 week not in the sources"),
    ("贷款申请将在五天内完成审核。", ["贷款申请将在5周内完成审核。"], "5 day not in the sources"),
    ("礼品卡支持退款。", ["礼品卡不支持退款。"], "drops the source's negation"),
    ("Bayaran balik tidak dibayar kepada kaedah asal.",
     ["Bayaran balik dibayar kepada kaedah asal."], "negates the source"),
    ("The sale ends on 15 April 2025.", ["The sale ends on March 15, 2025."],
     "date 2025-04-15 not in the sources"),
    ("โปรโมชันสิ้นสุดวันที่ 15 เมษายน 2568", ["โปรโมชันสิ้นสุดวันที่ 15 มีนาคม 2568"],
     "date 2025-04-15 not in the sources"),
])
def test_changed_units_negations_opposites_and_dates_are_unsupported(output, context, why):
    result = grounding(output, context=context)
    assert result.verdict == "fail", result.reason
    assert f"({why})" in result.reason


def test_the_same_facts_in_other_words_and_scripts_are_supported():
    assert grounding("促销活动于2025年3月15日结束。",
                     context=["促销活动于2025年3月15日结束。"]).verdict == "pass"
    assert grounding("Jualan tamat pada 15 Mac 2025.",
                     context=["Jualan tamat pada 15 Mac 2025."]).verdict == "pass"
    assert grounding("The sale ends on March 15.",
                     context=["The sale ends on 15 March 2025."]).verdict == "pass"
    assert grounding("บัตรของขวัญขอคืนเงินไม่ได้",
                     context=["บัตรของขวัญไม่สามารถขอคืนเงินได้"]).verdict == "pass"


def test_sentences_split_on_thai_spaces_and_chinese_full_stops():
    assert language.sentences("退款退回原支付方式。礼品卡不支持退款。") == \
        ["退款退回原支付方式。", "礼品卡不支持退款。"]
    assert language.sentences("จัดส่งฟรี ใช้เวลา 3 ถึง 5 วันทำการ") == \
        ["จัดส่งฟรี", "ใช้เวลา 3 ถึง 5 วันทำการ"]
    assert language.sentences("Ships free. Takes 3 days.\nThanks") == \
        ["Ships free.", "Takes 3 days.", "Thanks"]


def test_numbers_keep_their_units():
    assert language.quantities(language.canonical_text("5 business days")) == {"5 day"}
    assert language.quantities(language.canonical_text("3 to 5 days")) == {"3 day", "5 day"}
    assert language.quantities(language.canonical_text("limang araw, RM50")) == \
        {"5 day", "50 myr"}
    assert language.quantities(language.canonical_text("ภายในห้าวัน ๒ สัปดาห์")) == \
        {"5 day", "2 week"}
    assert language.quantities(language.canonical_text("三十天，两周，百分之五十")) == \
        {"30 day", "2 week", "50 percent"}
    assert language.quantities(language.canonical_text("Form A4, version 2")) == {"2"}


def policy(output, phrases):
    return run_checker({"type": "policy", "blocked_phrases": phrases},
                       CheckInput(item_id="itm", output=output))


@pytest.mark.parametrize(("output", "phrase"), [
    ("สินเชื่อของคุณอนุมัติแน่นอน", "อนุมัติแน่นอน"),
    ("您的贷款申请保证通过！", "保证通过"),
    ("SIGURADONG APRUBÁDO ito.", "siguradong aprubado"),
    ("Une garantía total", "garantia total"),
])
def test_blocked_phrases_match_per_language(output, phrase):
    result = policy(output, [phrase])
    assert (result.verdict, result.reason) == ("fail", f'blocked phrase: "{phrase}"')


def test_blocked_phrases_keep_word_boundaries_where_words_are_spaced():
    assert policy("Dia pasti lulusan universiti.", ["pasti lulus"]).verdict == "pass"
    assert policy("Permohonan anda PASTI LULUS.", ["pasti lulus"]).reason == \
        'blocked phrase: "pasti lulus"'


def test_without_pythainlp_thai_falls_back_to_character_pairs(monkeypatch, caplog):
    monkeypatch.setattr(language, "_thai_checked", False)
    monkeypatch.setattr(language, "_thai_segmenter", None)
    monkeypatch.setitem(__import__("sys").modules, "pythainlp.tokenize", None)
    with caplog.at_level(logging.WARNING, logger=language.__name__):
        words = language._thai_words("คืนเงิน")
    assert words == ["คื", "ืน", "นเ", "เง", "งิ", "ิน"]
    assert "pythainlp is not installed" in caplog.text
    monkeypatch.setattr(language, "_thai_checked", False)  # the real one again, after


def test_ingest_validation_finds_thai_and_chinese_phrases_inside_sentences():
    from review.intake.validation import validate_output  # the ingest rules, not the checker

    assert validate_output("สินเชื่อของคุณอนุมัติแน่นอน", blocked_phrases=["อนุมัติแน่นอน"]) == \
        ['blocked phrase: "อนุมัติแน่นอน"']
    assert validate_output("您的贷款申请保证通过！", blocked_phrases=["保证通过"]) == \
        ['blocked phrase: "保证通过"']
    assert validate_output("guaranteed approvals", blocked_phrases=["guaranteed approval"]) == []

"""Language-aware text handling for the lexical checkers: one normal form, sentences,
content tokens, numbers with their units, dates, negation and opposed terms.

Works the same for English, Malay/Indonesian, Tagalog (Latin script, words split
on spaces), Thai (no spaces between words: segmented with PyThaiNLP's dictionary
tokenizer when the `languages` extra is installed, else by character pairs) and
Chinese (character pairs, the usual dependency-free unit for matching Chinese
text). Normalisation: NFKC, case fold, accents dropped, Thai digits to ASCII,
number words and Chinese numerals before units to digits, synonyms to one word.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from review.intake.checks import lexicon

log = logging.getLogger(__name__)

_THAI = "\u0e00-\u0e7f"
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_THAI_RE = re.compile(f"[{_THAI}]")
_HAN_RE = re.compile(f"[{_HAN}]")
_RUN = re.compile(f"(?P<thai>[{_THAI}]+)|(?P<han>[{_HAN}]+)"
                  f"|(?P<word>[^\\W_{_THAI}{_HAN}]+(?:'[^\\W_{_THAI}{_HAN}]+)?)")
# Sentence ends: Latin punctuation before a space, CJK full stops (no space follows
# them), line breaks, and a space between two Thai letters (Thai separates
# sentences and clauses with a space, not a full stop).
_SENTENCE_END = re.compile(
    r"(?<=[.!?])\s+|(?<=[.!?][\"')\]])\s+|(?<=[。！？；!?])|\n+"
    f"|(?<=[{_THAI}])(?<![๐-๙])[ \t]+(?=[{_THAI}])(?![๐-๙])")
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")


def fold(text: str) -> str:
    """NFKC, case folded, accents dropped (Thai tone marks and vowels kept), Thai digits
    written as ASCII, thousands separators dropped."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_THAI_DIGITS)
    out = []
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.combining(ch) and not ("\u0e00" <= ch <= "\u0e7f"):
            continue
        out.append(ch)
    # NFKC splits Thai SARA AM into NIKHAHIT + SARA AA; dictionaries spell it whole.
    text = unicodedata.normalize("NFC", "".join(out)).replace("’", "'").replace("ํา", "ำ")
    return re.sub(r"(?<=\d)[,_](?=\d{3}\b)", "", text)


def has_unspaced_script(text: str) -> bool:
    """Whether `text` holds Thai or Chinese, written without spaces between words."""
    return bool(_THAI_RE.search(text) or _HAN_RE.search(text))


def sentences(text: str) -> list[str]:
    """Sentences of `text`: Latin punctuation + space, CJK full stops, line breaks,
    and spaces between Thai words."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


# --- numbers ------------------------------------------------------------------------

def _chinese_number(run: str) -> int:
    total, section, digit = 0, 0, 0
    for ch in run:
        if ch in lexicon.CHINESE_DIGITS:
            digit = lexicon.CHINESE_DIGITS[ch]
        else:
            scale = lexicon.CHINESE_SCALES[ch]
            if scale == 10000:
                total += (section + digit) * scale
                section, digit = 0, 0
            else:
                section += (digit or 1) * scale
                digit = 0
    return total + section + digit


_CN_NUM = re.compile("([零〇一二两兩三四五六七八九十百千万萬]+)"
                     "(?=个|個|天|日|周|週|星期|礼拜|月|年|小时|小時|分钟|分鐘|元|块|塊|号|號|%|件|公斤)")
_CN_PERCENT = re.compile(r"百分之\s*(\d+(?:\.\d+)?)")
_CN_PERCENT_WORDS = re.compile("百分之([零〇一二两兩三四五六七八九十百千万萬]+)")
_TH_NUM = re.compile("(" + "|".join(sorted(lexicon.THAI_NUMBERS, key=len, reverse=True)) +
                     r")(?=\s*(?:วัน|สัปดาห์|อาทิตย์|เดือน|ปี|ชั่วโมง|นาที|บาท|ชิ้น))")
_WORD_NUM = re.compile(r"(?<![^\W\d_])(" + "|".join(
    sorted((re.escape(w) for w in lexicon.NUMBER_WORDS), key=len, reverse=True)) +
    r")(?![^\W\d_])")


def _digits(text: str) -> str:
    text = _CN_NUM.sub(lambda m: str(_chinese_number(m.group(1))), text)
    text = _CN_PERCENT_WORDS.sub(lambda m: f"{_chinese_number(m.group(1))}%", text)
    text = _CN_PERCENT.sub(r"\1%", text)
    text = _TH_NUM.sub(lambda m: str(lexicon.THAI_NUMBERS[m.group(1)]), text)
    return _WORD_NUM.sub(lambda m: str(lexicon.NUMBER_WORDS[m.group(1)]), text)


# --- dates --------------------------------------------------------------------------

_MONTH_ALT = "|".join(sorted((re.escape(m) for m in lexicon.MONTHS), key=len, reverse=True))
_DATE_PATTERNS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], tuple[int, int, int]]]] = [
    (re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"),
     lambda m: (int(m[1]), int(m[2]), int(m[3]))),
    (re.compile(r"(?:(\d{4})\s*年\s*)?(\d{1,2})\s*月\s*(\d{1,2})\s*[日号號]"),
     lambda m: (int(m[1] or 0), int(m[2]), int(m[3]))),
    (re.compile(rf"(?<!\d)(\d{{1,2}})\s*(?:de\s+|ng\s+)?({_MONTH_ALT})\.?(?:,?\s*(\d{{4}}))?"),
     lambda m: (int(m[3] or 0), lexicon.MONTHS[m[2]], int(m[1]))),
    (re.compile(rf"(?<![^\W\d_])({_MONTH_ALT})\.?\s+(\d{{1,2}})(?!\d)(?:,?\s*(\d{{4}}))?"),
     lambda m: (int(m[3] or 0), lexicon.MONTHS[m[1]], int(m[2]))),
]


def _dates(text: str) -> tuple[str, set[str]]:
    """Dates in `text` as `YYYY-MM-DD` (year 0 when not given; Thai Buddhist-era years
    moved to the common era), and the text with them cut out."""
    found: set[str] = set()
    for pattern, parts in _DATE_PATTERNS:
        def take(match: re.Match[str], parts: Callable = parts) -> str:
            year, month, day = parts(match)
            if year > 2400:
                year -= 543  # Thai Buddhist era
            if 1 <= month <= 12 and 1 <= day <= 31:
                found.add(f"{year:04d}-{month:02d}-{day:02d}")
                return " ; "
            return match.group(0)
        text = pattern.sub(take, text)
    return text, found


def dates_match(claimed: str, known: set[str]) -> bool:
    """A claimed date is supported by the same date, or by one whose year the claim left out."""
    return claimed in known or (claimed.startswith("0000-") and
                                any(k[4:] == claimed[4:] for k in known))


# --- numbers with units -------------------------------------------------------------

_NUMBER = re.compile(r"(?P<pre>\$|rm|rp|₱|php|฿|¥|￥|usd|thb)?\s?(?P<num>\d+(?:\.\d+)?)")
_UNIT_SPELLINGS = sorted(lexicon.UNITS, key=len, reverse=True)


def _unit_after(rest: str) -> str | None:
    """The unit right after a number: a Thai/Chinese unit or symbol, or a Latin word
    within two qualifier words ("5 business days"), through a range ("3 to 5 days")."""
    rest = rest.lstrip()
    for spelling in _UNIT_SPELLINGS:
        if not (spelling.isascii() and spelling.isalnum()) and rest.startswith(spelling):
            return lexicon.UNITS[spelling]
    words = re.findall(r"[^\W_]+|[-–~]", rest[:60])
    for word in words[:5]:
        if word in lexicon.UNITS:
            return lexicon.UNITS[word]
        if len(word) > 3 and word.endswith("s") and word[:-1] in lexicon.UNITS:
            return lexicon.UNITS[word[:-1]]
        if not (word in lexicon.UNIT_QUALIFIERS or word in lexicon.RANGE_WORDS
                or word.isdigit()):
            return None
    return None


def quantities(folded: str) -> set[str]:
    """Numbers with their canonical unit, `5 day`, `50 usd`, or a bare `5`."""
    found = set()
    for match in _NUMBER.finditer(folded):
        start = match.start("num")
        before = folded[max(0, start - 1):start]
        if before.isalpha() and before.isascii() and not match["pre"]:
            continue  # part of a code such as "A4" or "v2"
        number = match["num"].rstrip("0").rstrip(".") if "." in match["num"] else match["num"]
        number = str(int(number)) if number.isdigit() else number
        after = folded[match.end():match.end() + 80]  # a unit is near; a slice, not the rest
        unit = lexicon.UNITS[match["pre"]] if match["pre"] else _unit_after(after)
        found.add(f"{number} {unit}" if unit else number)
    return found


def quantity_supported(claimed: str, known: set[str]) -> bool:
    """`5 day` needs `5 day` in the sources; a bare `5` needs 5 with any unit or none."""
    if claimed in known:
        return True
    return " " not in claimed and any(k.split(" ")[0] == claimed for k in known)


# --- synonyms, tokens, negation, opposites ------------------------------------------

@lru_cache(maxsize=1)
def _synonym_pattern() -> tuple[re.Pattern[str], dict[str, str]]:
    canonical: dict[str, str] = {}
    for group in lexicon.SYNONYMS:
        for spelling in group:
            canonical.setdefault(fold(spelling), fold(group[0]))
    parts = []
    for spelling in sorted(canonical, key=len, reverse=True):
        escaped = re.escape(spelling)
        parts.append(escaped if has_unspaced_script(spelling)
                     else rf"(?<![^\W_]){escaped}(?![^\W_])")
    return re.compile("|".join(parts)), canonical


def canonical_text(text: str) -> str:
    """Folded text with number words as digits and every synonym as its group's word."""
    pattern, canonical = _synonym_pattern()
    return pattern.sub(lambda m: canonical[m.group(0)], _digits(fold(text)))


def _stem(word: str) -> str:
    if word.endswith("n't"):
        return "not"
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    return word


_thai_segmenter: Callable[[str], list[str]] | None = None
_thai_stopwords: frozenset[str] = frozenset()
_thai_checked = False


def _thai_words(run: str) -> list[str]:
    """Thai words by PyThaiNLP's dictionary segmenter, else overlapping character pairs."""
    global _thai_segmenter, _thai_stopwords, _thai_checked
    if not _thai_checked:
        _thai_checked = True
        try:
            from pythainlp.corpus import thai_stopwords  # optional; loaded on first Thai text
            from pythainlp.tokenize import word_tokenize  # (it reads a dictionary, ~1 s)
        except ImportError:
            log.warning("pythainlp is not installed (pip install 'review[languages]'): "
                        "Thai text is matched by character pairs, less precisely")
        else:
            _thai_segmenter = lambda s: word_tokenize(s, engine="newmm",  # noqa: E731
                                                      keep_whitespace=False)
            _thai_stopwords = frozenset(thai_stopwords()) | set(lexicon.NEGATION_MARKS)
    if _thai_segmenter is None:
        return _pairs(run)
    words: list[str] = []
    # Our lexicon's words stay whole: the dictionary segmenter may cut "คืนเงินได้"
    # as "คืน|เงินได้" in one sentence and "คืนเงิน|ได้" in another.
    for i, part in enumerate(_thai_lexicon().split(run)):
        if i % 2:
            words.append(part)
        elif part:
            words.extend(_thai_segmenter(part))
    return [w for w in words if w.strip() and w not in _thai_stopwords
            and w not in lexicon.UNITS]


@lru_cache(maxsize=1)
def _thai_lexicon() -> re.Pattern[str]:
    """The Thai words of our synonym and opposite lists, longest first, as one splitter."""
    words = {fold(group[0]) for group in lexicon.SYNONYMS} | \
        {t for pair in lexicon.OPPOSITES for t in pair}
    thai = sorted((w for w in words if _THAI_RE.search(w)), key=len, reverse=True)
    return re.compile("(" + "|".join(re.escape(w) for w in thai) + ")")


def _pairs(run: str) -> list[str]:
    return [run] if len(run) < 2 else [run[i:i + 2] for i in range(len(run) - 1)]


def han_pairs(runs: tuple[str, ...]) -> set[str]:
    """Adjacent character pairs (and lone characters) of Chinese runs."""
    return {pair for run in runs for pair in _pairs(run)}


def han_covered(runs: tuple[str, ...], known: set[str]) -> tuple[int, int]:
    """(covered, total) characters of `runs`: a character is covered when a pair it is
    part of (or, alone, the character itself) occurs in `known`. Character pairs
    across a word boundary rarely recur in a paraphrase; the words' own pairs do."""
    covered = total = 0
    for run in runs:
        total += len(run)
        if len(run) == 1:
            covered += any(run in pair for pair in known)
            continue
        hit = [False] * len(run)
        for i in range(len(run) - 1):
            if run[i:i + 2] in known:
                hit[i] = hit[i + 1] = True
        covered += sum(hit)
    return covered, total


# Function characters, and the negation marks (negation is compared on its own).
_HAN_STOP = re.compile("[的了是在和与及您你我们他她它吗呢吧啊也都就请这那个為为把被将會会能可至"
                       + "".join(m for m in lexicon.NEGATION_MARKS if len(m) == 1) + "]")


@dataclass(frozen=True)
class Features:
    """What the checkers compare about one sentence or source."""

    tokens: list[str]  # content words (Latin-script and Thai), in order
    han: tuple[str, ...]  # runs of Chinese characters, function characters removed
    terms: frozenset[str]  # every word or lexicon term present (for opposites)
    negated: bool
    quantities: frozenset[str]
    dates: frozenset[str]


@lru_cache(maxsize=4096)
def features(text: str) -> Features:
    """The features of `text` (cached: sources are re-read for every sentence)."""
    canon = canonical_text(text)
    synonyms = _synonym_pattern()[1]  # again after stemming: "applications" -> "application"
    canon, found_dates = _dates(canon)
    amounts = quantities(canon)
    tokens: list[str] = []
    han: list[str] = []
    terms: set[str] = set()
    negations = 0
    for match in _RUN.finditer(canon):
        if match["word"]:
            raw = match["word"]
            word = _stem(raw)
            word = synonyms.get(word, word)
            terms.add(word)
            if word in lexicon.NEGATIONS:
                negations += 1
            elif not word.isdigit() and len(word) >= 3 and word not in lexicon.STOPWORDS \
                    and raw not in lexicon.STOPWORDS \
                    and word not in lexicon.UNITS and word.rstrip("s") not in lexicon.UNITS:
                tokens.append(word)
            continue
        run = match["thai"] or match["han"]
        for word in lexicon.NOT_NEGATIONS:
            run = run.replace(word, "")
        negations += sum(run.count(mark) for mark in lexicon.NEGATION_MARKS)
        terms.update(t for pair in lexicon.OPPOSITES for t in pair if t in run)
        if match["thai"]:
            tokens.extend(_thai_words(run))
        elif kept := _HAN_STOP.sub("", run):
            han.append(kept)
    return Features(tokens, tuple(han), frozenset(terms), negations > 0, frozenset(amounts),
                    frozenset(found_dates))


def opposed(claim: frozenset[str], source: frozenset[str]) -> str | None:
    """A term of the claim whose opposite (and not itself) the source states."""
    for one, other in lexicon.OPPOSITES:
        for said, against in ((one, other), (other, one)):
            if said in claim and against in source and said not in source:
                return said
    return None


@lru_cache(maxsize=1024)
def phrase_matcher(phrase: str) -> re.Pattern[str] | None:
    """A blocked phrase matched on folded text: a substring in Thai/Chinese (no word
    boundaries there), on word boundaries and any spacing elsewhere."""
    folded = fold(phrase).strip()
    if not folded:
        return None
    if has_unspaced_script(folded):
        return re.compile(r"\s*".join(re.escape(ch) for ch in folded if not ch.isspace()))
    words = [re.escape(w) for w in folded.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)")


def blocked_hits(text: str, phrases: list[Any]) -> list[str]:
    """The literal blocked phrases (not `re:` ones) found in `text`, normalised per language."""
    folded = fold(text)
    hits = []
    for phrase in phrases:
        if not isinstance(phrase, str) or phrase.startswith("re:"):
            continue
        matcher = phrase_matcher(phrase)
        if matcher is not None and matcher.search(folded):
            hits.append(phrase)
    return hits

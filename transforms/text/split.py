"""Splitting text for the heuristic filters: words, lines, paragraphs (their repetition
statistics are in ``thresher.transforms.text.repetition``).

Words. FineWeb's filters (datatrove 0.2.0, the release that built FineWeb) split
English text with NLTK 3.8's ``word_tokenize``: Punkt sentence splitting, then the
Treebank-style ``NLTKWordTokenizer`` on each sentence. Punctuation marks are words
of their own (``end.`` gives ``end`` and ``.``), ``"`` becomes ```` `` ```` or
``''``, clitics are split (``don't``: ``do`` ``n't``; ``John's``: ``John`` ``'s``),
and a period stays on its word unless Punkt ends a sentence there (``Dr.``,
``U.S.``, ``3.5`` stay whole). ``split_words`` reproduces this with a few regular-
expression and ``str`` passes and no NLTK: the Treebank rules (all but odd cases
such as two clitics in a row), and Punkt approximately (its English abbreviations,
sentence starters and collocations are built in; its orthographic statistics, 20,000
words learnt from newswire, are not).
On the 1,166 real pages of ``bench/real-pages.texts.jsonl.gz`` (compared with NLTK
3.8.1 and NLTK's English Punkt parameters) 1,111 pages get exactly NLTK's words and
148 of 1,038,985 words differ, nearly all a period after an abbreviation or an
initial ("z. B.", "Mr. Powers"); the filters of ``gopher.py``, ``gopher_repetition.py`` and
``fineweb_quality.py`` decide every one of the 1,166 pages as datatrove 0.2.0 does.

Per-thread cache: ``split_words`` keeps its last result per thread, keyed by the
identity of the text object (the cache holds a reference to that object, so its
identity cannot be reused while cached) and ``cjk_chars``, and hands out a fresh list
each time. In a pipeline, consecutive filters on words (gopher_repetition,
gopher_quality, fineweb_quality) run fused in one thread, and a filter that keeps a
document unchanged passes the same ``text`` object on: the words of a text are split
once instead of once per filter, with no change to the ``Document`` or what crosses a
coder. ``benchmarks/step_speed.py`` measures the cost of ``split_words`` and of the
filters run together with and without this cache (its "no word cache" rows).

Languages written without spaces (Chinese, Japanese, Thai) are not segmented: as in
NLTK, a run of such characters between spaces or Latin punctuation is one word, so a
Chinese paragraph is a few very long "words" (the Gopher rules then drop it, as
datatrove does). ``split_words(text, cjk_chars=True)`` instead makes every Han, Kana
or Thai character a word of its own (Korean, written with spaces, is left as it is).
Nothing here raises on any string (empty, whitespace only, lone surrogates).
"""
from __future__ import annotations

import re
import threading
from typing import List

# --- Punkt's English model (NLTK punkt english.pickle), the part we use -----------------
# Abbreviations: a period after these (lower-cased, without the final period) ends no sentence.
PUNKT_ABBREVIATIONS = frozenset("""
a.a a.c a.d a.g a.h a.m a.m.e a.s a.t adm ala ariz aug ave b.f b.v bros c c.i.t c.o.m.b c.v calif chg
cie co col colo conn corp cos ct d d.c d.h d.w dec dr e e.f e.h e.l e.m f f.g f.j feb fla fri ft g g.d g.f
g.k ga gen h h.c h.f h.m i.m.s ill inc j.b j.c j.j j.k j.p j.r jan jr k kan ky l l.a l.f l.p lt ltd m
m.b.a m.d.c m.j maj messrs mg mich minn mr mrs ms n n.c n.d n.h n.j n.m n.v n.y nev nov oct ok okla ore
p p.a.m p.m pa ph.d prof r r.a r.h r.i r.j r.k r.t rep reps s s.a s.a.y s.c s.g s.p.a s.s sen sep sept
sr st sw t t.j tenn tues u.k u.n u.s u.s.a u.s.s.r v va vs vt w w.c w.r w.va w.w wash wed wis yr
""".split())
# Capitalised words that start a sentence even after an abbreviation.
PUNKT_SENT_STARTERS = frozenset("""
according although among both but despite even he however i if in indeed instead it many meanwhile
moreover most nevertheless nonetheless nor sales separately similarly since so some the there these
they this though thus under when while yet
""".split())
# (word before the period, word after): the period ends no sentence.
PUNKT_COLLOCATIONS = frozenset(
    [("##number##", w) for w in (
        "abreast aes business cbot colgate commodities cooper corrections credit dividend financing "
        "genentech henley insider international leisure letters notable pay-fone pegasus pepper review "
        "rj wedgestone who zimmer").split()]
    + [("b", "edelman"), ("b", "levine"), ("b", "smith"), ("b", "stewart"), ("b", "wigton"),
       ("i", "magnin"), ("i", "toussie"), ("j", "aron"), ("j", "fialka"), ("j", "walter"), ("o", "ludcke")])

# --- The passes of split_words (NLTK 3.8 destructive.py, reordered) ---------------------
# Each pattern starts with a literal or a character class, so that re can skip ahead to
# candidates instead of trying every position: a regex pass costs about 0.1 ms then.
# An apostrophe before a one-letter word that is no clitic ('a -> ' a).
_APOS_LETTER = re.compile(r"(?i)(')(?!re|ve|ll|m|t|s|d|n)(\w)\b")
_QUOTE = re.compile(r"''|\"")
_SENTENCE_END_BEFORE = re.compile(r"(?:[?!]|(?<![.\s])\.)[\'\")\]}]*\s+$")
# The last period of a chunk (not part of an ellipsis), the rest of the chunk after it when
# that starts with punctuation, and the next chunk. Punkt considers only the last candidate
# of a chunk, and only one followed by a space or punctuation.
_PERIOD = re.compile(r"\.(?<=[^\s.]\.)((?:[)\";}\]*:@'({\[!?>»”’][^\s.]*)?)(?!\S)(?:(?=\s+(\S+)))?")
_ELLIPSIS = re.compile(r"\.\.+")
_BACKTICKS = re.compile(r"`+")
_ALWAYS_SPLIT = "«“‘„»”’;@#$%&?!*[](){}<>"  # characters that are always tokens of their own
# Commas and colons, unless a digit follows (3,000 and 10:30 stay whole); as in NLTK the
# character after the mark is consumed, so "::x" gives ":" and ":x".
_COMMA = re.compile(r",(?=[^\d ])")  # after ", " became " , "
_COLON = re.compile(r":(?=[^\d ])")
_MARK_PAIR = re.compile(r"([:,])([^\d])")  # exact NLTK rule, for ",," "::" ",:" ":,"
# Clitics and closing apostrophes at the end of a chunk (followed by a space, as in NLTK).
_CLITIC = re.compile(r"'(?<=[^' ]')(?=(?:[sSmMdD]|ll|LL|re|RE|ve|VE)? )")
# MacIntyre's contractions, which NLTK splits in two (CONTRACTIONS2 and 3 of destructive.py).
# They are looked for among the words first (cheap), in their usual spellings.
_CONTRACTIONS = re.compile(
    r"(?i)\b(can)(not)\b|\b(d)('ye)\b|\b(gim)(me)\b|\b(gon)(na)\b|\b(got)(ta)\b|\b(lem)(me)\b"
    r"|\b(more)('n)\b|\b(wan)(na)(?=\s)| ('t)(is)\b| ('t)(was)\b")
_CONTRACTION_WORDS = ("cannot", "d'ye", "gimme", "gonna", "gotta", "lemme", "more'n", "wanna", "'tis", "'twas")
_CONTRACTION_TOKENS = frozenset(f(w) + end for w in _CONTRACTION_WORDS
                                for f in (str.lower, str.capitalize, str.upper) for end in ("", "."))
# Punkt: characters that cannot start a word, that end one, closing marks after a final
# period, its number pattern, and a next chunk that holds a sentence end of its own.
_PUNKT_LEAD = "(\"`{[:;&#*@)}]-,"
_PUNKT_NON_WORD = frozenset(")\";}]*:@'({[!?")
_PUNKT_NON_WORD_RE = re.compile(r"[)\";}\]*:@({\[]|(?=['!?])")
_CLOSERS = re.compile(r"[\])}>\"'»”’]*$")
_PUNKT_NUMBER = re.compile(r"^-?[.,]?\d[\d,.-]*\.?$")
_INNER_BREAK = re.compile(r"([^\s.]\.)([)\";}\]*:@'({\[!?])|[!?]\S")
_CJK = re.compile(r"([\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])")


def _punkt_type(word: str) -> str:
    """Punkt's type of the token that ends in a period (given without the period):
    lower-cased, numbers folded to ##number##."""
    if word.isalpha():
        return word.lower()
    word = _PUNKT_NON_WORD_RE.split(word)[-1].lstrip(_PUNKT_LEAD).lower()
    return "##number##" if _PUNKT_NUMBER.match(word) else word


def _next_type(following: str) -> str:
    """Punkt's type of the token after the period: its first word, lower-cased, less a
    final period; a leading punctuation mark is a token of its own."""
    if following[0] in _PUNKT_LEAD:
        return following[0]
    word = _PUNKT_NON_WORD_RE.split(following, 1)[0].rstrip(",").lower()
    if word.endswith(".") and word[:-1] not in PUNKT_ABBREVIATIONS:
        word = word[:-1]
    return "##number##" if _PUNKT_NUMBER.match(word) else word


def _ends_sentence(word: str, following: str) -> bool:
    """Whether Punkt (English) ends a sentence at a period after ``word``, ``following``
    being the next token (a punctuation mark or the next chunk)."""
    kind = _punkt_type(word)
    initial = len(kind) == 1 and kind.isalpha()
    abbreviation = kind in PUNKT_ABBREVIATIONS or kind.rsplit("-", 1)[-1] in PUNKT_ABBREVIATIONS
    if not abbreviation and not initial and kind != "##number##":
        return True
    next_kind = _next_type(following)
    if (kind, next_kind) in PUNKT_COLLOCATIONS:
        return False
    upper = following[0].isupper()
    if abbreviation and not initial:
        if upper and next_kind in PUNKT_SENT_STARTERS:
            return True
    elif not abbreviation:
        # an initial or a number: a lower-case word or punctuation continues the sentence,
        # and so does a capitalised word after an initial (J. Smith)
        if not (following[0].islower() or following[0] in ";:,.!?" or (initial and upper)):
            return True
    # NLTK 3.8 also breaks here when the next chunk ends a sentence inside it: "(S. 34f.)"
    inner = _INNER_BREAK.search(following)
    if inner is None:
        return False
    if inner.group(1) is None:
        return True  # a ? or ! followed by more
    return _ends_sentence(following[:inner.start(1) + 1], inner.group(2))


def _split_period(match: "re.Match[str]") -> str:
    tail, following = match.groups()
    start = match.start()
    word = match.string[max(0, start - 64):start].rsplit(None, 1)[-1]  # the chunk before the period
    if tail:
        if "?" in tail or "!" in tail:
            return match.group()  # a later ? or ! ends the sentence instead
        closing = not following and _CLOSERS.match(tail)  # at the very end of the text
        if not closing and (tail[0] not in _PUNKT_NON_WORD or not _ends_sentence(word, tail[0])):
            return match.group()  # "end.”" inside the text: Punkt sees no candidate
        return " . " + tail + " "
    if not following or (len(word) > 1 and word.isalpha() and word.lower() not in PUNKT_ABBREVIATIONS):
        return " . "  # the end of the text, or a sentence ending in a plain word
    return " . " if _ends_sentence(word, following) else "."


def _opens(before: str, after: str, quote: str = '"') -> bool:
    """Whether a double quote between ``before`` and ``after`` opens: after a space or an
    opening bracket (NLTK), or, for ``"``, where Punkt starts a sentence with it: at the
    start, after a sentence end and a line break, or right after ? ! . when no space
    follows the quote."""
    last = before[-1:]
    if last in " ([{<«“‘„`" and last:
        return True
    if quote != '"':
        return False
    if not last:
        return True
    if last in ".?!" and after[:1] and not after[:1].isspace() and after[:2] != "--":
        return True
    return last.isspace() and bool(_SENTENCE_END_BEFORE.search(before))


def _convert_quote(match: "re.Match[str]") -> str:
    text, start, end = match.string, match.start(), match.end()
    return " `` " if _opens(text[max(0, start - 24):start], text[end:end + 2], match.group()) else " '' "


def _convert_quotes(text: str) -> str:
    """Double quotes (and '') become `` when they open, '' otherwise."""
    if "''" in text:
        return _QUOTE.sub(_convert_quote, text)
    pieces = text.split('"')
    out = [pieces[0]]
    at = len(pieces[0])  # where the quote before each next piece stands in ``text``
    for piece in pieces[1:]:
        out.append(" `` " if _opens(text[max(0, at - 24):at], piece[:2]) else " '' ")
        out.append(piece)
        at += 1 + len(piece)
    return "".join(out)


def _padded(match: "re.Match[str]") -> str:
    return " " + match.group() + " "


def _split_contraction(match: "re.Match[str]") -> str:
    return " %s %s " % tuple(g for g in match.groups() if g is not None)


_last = threading.local()  # the last text split in this thread, and its words


def split_words(text: str, cjk_chars: bool = False) -> List[str]:
    """English words as NLTK's ``word_tokenize`` makes them, punctuation tokens included.

    ``cjk_chars``: make each Han, Kana or Thai character a word (NLTK keeps a run of
    them as one word). The last result is kept per thread, so filters that run one
    after another on the same text object split it once (see the module docstring).
    """
    last = getattr(_last, "words", None)
    if last is not None and last[0] is text and last[1] == cjk_chars:
        return list(last[2])
    words = _split_words(text, cjk_chars)
    _last.words = (text, cjk_chars, tuple(words))
    return words


def _split_words(text: str, cjk_chars: bool) -> List[str]:
    if "'" in text:
        text = _APOS_LETTER.sub(r"\1 \2", text)
    if "`" in text:
        text = _BACKTICKS.sub(_padded, text)
    if '"' in text or "''" in text:
        text = _convert_quotes(text)
    if "." in text:
        text = _PERIOD.sub(_split_period, text)
    if ",," in text or "::" in text or ",:" in text or ":," in text:
        text = _MARK_PAIR.sub(r" \1 \2", text)
    else:
        if "," in text:
            text = _COMMA.sub(" , ", text.replace(", ", " , "))
        if ":" in text:
            text = _COLON.sub(" : ", text.replace(": ", " : "))
    if text[-1:] in (":", ","):
        text = text[:-1] + " " + text[-1]
    for char in _ALWAYS_SPLIT:
        if char in text:
            text = text.replace(char, " " + char + " ")
    if "--" in text:
        text = text.replace("--", " -- ")
    if ".." in text:
        text = _ELLIPSIS.sub(_padded, text)
    text = " " + text.rstrip() + " "  # NLTK pads each sentence, the last one stripped
    if "'" in text:
        if "n't " in text:
            text = text.replace("n't ", " n't ")
        if "N'T " in text:
            text = text.replace("N'T ", " N'T ")
        text = _CLITIC.sub(" '", text)
    if cjk_chars:
        text = _CJK.sub(r" \1 ", text)
    tokens = text.split()
    if not _CONTRACTION_TOKENS.isdisjoint(tokens):  # (this also caches every word's hash)
        tokens = _CONTRACTIONS.sub(_split_contraction, text).split()
    return tokens


def split_lines(text: str) -> List[str]:
    """Lines as ``str.splitlines`` cuts them (any Unicode line break; no trailing empty line)."""
    return text.splitlines()


_PARAGRAPH_BREAK = re.compile(r"\n\n+")  # (faster than \n{2,})


def split_paragraphs(text: str) -> List[str]:
    """Paragraphs: the stripped text cut at every run of two or more newlines."""
    return _PARAGRAPH_BREAK.split(text.strip())

"""The quickstart corpus's pages: ``_Writer`` (titles, sentences, articles and near copies in one language
and topic, from ``quickstart_grammar``), the HTML page around an article, spam pages, and the non-HTML
records (a PNG, a PDF). ``jaccard`` measures how near a near copy is."""
from __future__ import annotations

import html
import random
import re
import struct
import unicodedata
import zlib

from thresher.pipelines.commands.quickstart_grammar import GRAMMAR, SHOUTS, SPAM_WORDS, SYLLABLES, VOCAB


_CHOICE, _SLOT, _TOKEN = re.compile(r"\[([^]]*)\]"), re.compile(r"\{(\w+)\}"), re.compile(r"\w+|[^\w\s]")
_PARTS: dict = {}  # template -> its text and slot names, alternating
_POLISH = {"en": (re.compile(r"\b([Aa]) ([aeiou])"), r"\1n \2"),
           "fr": (re.compile(r"\b(d|qu|n|l|j)e ([aeiouyéèêâîô])", re.I), r"\1'\2"),
           "zh": (re.compile("([，；：])"), r"\1 ")}  # a -> an; French elision; a space after Chinese commas


class _Writer:
    """Titles, sentences and articles for one language and topic."""

    def __init__(self, lang: str, rng: random.Random, topic: str = ""):
        self.lang, self.rng, g = lang, rng, GRAMMAR[lang]
        self.domain, *fields = VOCAB[lang][topic or rng.choice(sorted(VOCAB[lang]))]
        self.words = {k: f.split("|") for k, f in zip(("w", "n", "a", "v", "p", "t"), fields)}
        self.g = {k: v.split("|") for k, v in g.items() if k != "boiler"}
        self.deck, self.sep, self.seen = [], " ", set()

    def _fill(self, template: str) -> str:
        """Fill the slots: {n}, {n2}: distinct nouns; {v3}: finite verb; {ae}/{aen}: inflected German adjective."""
        if "[" in template:
            template = _CHOICE.sub(lambda m: self.rng.choice(m.group(1).split("/")), template)
        parts = _PARTS.get(template) or _PARTS.setdefault(template, _SLOT.split(template))  # text, slot, text...
        out, used, choice = [parts[0]], set(), self.rng.choice
        for i in range(1, len(parts), 2):
            slot = parts[i]
            words = self.words[slot[0]]
            word = choice(words)
            while word in used:
                word = choice(words)
            used.add(word)
            if slot[0] == "v":
                word = word.split("/")[-1 if slot == "v3" else 0]
            elif slot[:2] == "ae":
                word += "en" if slot[:3] == "aen" else "e"
            out += (word, parts[i + 1])
        return "".join(out)

    def _clause(self) -> str:
        if not self.deck:  # templates drawn without replacement: fewer repeated n-grams in one article
            self.deck = self.rng.sample(self.g["clauses"], len(self.g["clauses"]))
        return self._fill(self.deck.pop())

    def _polish(self, s: str) -> str:
        if self.lang in _POLISH:
            s = _POLISH[self.lang][0].sub(_POLISH[self.lang][1], s)
        return s[0].upper() + s[1:]

    def _draft(self) -> str:
        tail = self.rng.choice(self.g["tails"])
        s = self.rng.choice(self.g["openers"]) + self._clause()
        s += tail.replace("{c}", self._clause()) if tail else ""
        return self._polish(s) + ("。" if self.lang == "zh" else ".")

    def sentence(self) -> str:
        """A sentence that, if possible, repeats no 5-gram of the article so far (Chinese: no pair of clauses),
        counting words and punctuation marks as the Gopher rules do."""
        n, best = 2 if self.lang == "zh" else 5, None
        for _ in range(12):
            s = self._draft()
            words = s.split() if self.lang == "zh" else _TOKEN.findall(s)
            grams = set(zip(*(words[i:] for i in range(n))))
            if best is None or len(grams & self.seen) < best[0]:
                best = (len(grams & self.seen), s, grams)
            if not best[0]:
                break
        self.seen |= best[2]
        return best[1]

    def title(self) -> str:
        return self._polish(self._fill(self.rng.choice(self.g["titles"])))

    def size(self, paras: list) -> int:
        """Words in a list of paragraphs (Chinese: characters / 3)."""
        text = self.sep.join(s for p in paras for s in p)
        return len(text) // 3 if self.lang == "zh" else len(text.split())

    def article(self) -> tuple:
        """(title, paragraphs as lists of sentences) of 150-800 words."""
        target, paras, self.seen = self.rng.randint(170, 700), [], set()
        while len(paras) < 3 or self.size(paras) < target:
            paras.append([self.sentence() for _ in range(self.rng.randint(3, 6))])
        while self.size(paras) > 790:
            paras[-1].pop() if len(paras[-1]) > 1 else paras.pop()
        return self.title(), paras

    def near_copy(self, paras: list) -> list:
        """A copy with words swapped and sentences added or removed: 5-shingle Jaccard 0.80-0.93."""
        orig, copy, target = " ".join(s for p in paras for s in p), paras, self.rng.uniform(0.82, 0.92)
        for _ in range(60):
            trial = [list(p) for p in copy]
            p = self.rng.choice(trial)
            op, j = self.rng.random(), self.rng.randrange(len(p))
            if op < 0.5:
                words = p[j].split(" ")
                new = self.rng.choice(self.words["a"] + self.words["n"]).split()[0]
                words[self.rng.randrange(1, len(words) - 1)] = new
                p[j] = " ".join(words)
            elif op < 0.75 and len(p) > 1:
                del p[j]
            else:
                p.insert(j, self.sentence())
            sim = jaccard(orig, " ".join(s for q in trial for s in q))
            copy = trial if sim >= 0.80 else copy
            if 0.80 <= sim <= target:
                break
        return copy


def jaccard(a: str, b: str, k: int = 5) -> float:
    """Jaccard similarity of the k-word shingle sets of two texts."""
    words = [re.findall(r"\w+", t.lower()) for t in (a, b)]
    sa, sb = ({tuple(w[i:i + k]) for i in range(max(1, len(w) - k + 1))} for w in words)
    return len(sa & sb) / max(1, len(sa | sb))


def _slug(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:60] or "post"


def _page(domain: str, lang: str, title: str, main: str, sidebar: list, charset="utf-8", layout="") -> str:
    """A full HTML document: nav menu, header, main content, sidebar, footer with copyright and cookie notice."""
    nav, popular, letter, rights, cookie, accept = GRAMMAR[lang]["boiler"].split("§")
    look, site = random.Random(domain + layout), domain.split(".")[0].replace("-", " ").title()  # per-site layout
    menu = "".join(f'<li><a href="/{_slug(x)}/">{x}</a></li>' for x in look.sample(nav.split("|"), 5))
    side = "".join(f'<li><a href="/{y}/{_slug(t)}.html">{html.escape(t)}</a></li>' for y, t in sidebar)
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="{charset}">
<title>{html.escape(title)} | {site}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/assets/{look.choice(['site', 'theme', 'main'])}-{look.randint(1, 9)}.css">
</head>
<body class="{look.choice(['blog', 'magazine', 'journal'])}">
<nav class="{look.choice(['menu', 'main-nav', 'topbar'])}"><ul>{menu}</ul></nav>
<header class="site-header"><a class="logo" href="/">{site}</a>
<form class="search" action="/search"><input name="q"></form></header>
<main>
{main}
<aside class="sidebar"><h3>{popular}</h3><ul>{side}</ul>
<div class="newsletter"><p>{letter}</p><form><input type="email" name="email"><button>OK</button></form></div></aside>
</main>
<footer><p>&copy; {look.randint(2019, 2024)} {site}. {rights}</p>
<div class="cookie-banner"><p>{cookie}</p><button>{accept}</button></div>
<p><a href="/privacy">Privacy</a> | <a href="/imprint">Imprint</a></p></footer>
</body>
</html>
"""


def _article(title: str, paras: list, sep: str) -> str:
    body = "\n".join(f"<p>{html.escape(sep.join(p), quote=False)}</p>" for p in paras)
    return f'<article class="post">\n<h1>{html.escape(title, quote=False)}</h1>\n{body}\n</article>'


def _spam(variant: int, rng: random.Random) -> tuple:
    """(title, main HTML): keyword stuffing, shouted short lines, a link farm or lorem ipsum."""
    kw = rng.choice(SPAM_WORDS)
    if variant == 0:
        forms = [kw, f"best {kw}", f"buy {kw}", f"{kw} online", f"cheap {kw}"]
        paras = "".join(f"<p>{' '.join(rng.choices(forms, k=rng.randint(60, 120)))}</p>" for _ in range(3))
        return f"Best {kw} - cheap {kw} online", f"<article>{paras}</article>"
    if variant == 1:
        return rng.choice(SHOUTS), f"<article><p>{'<br>'.join(rng.choices(SHOUTS, k=rng.randint(25, 40)))}</p></article>"
    if variant == 2:
        links = "\n".join(f'<li><a href="https://{_slug(kw)}-{i}.test/">best {kw} {i}</a></li>' for i in range(60))
        return f"Top {kw} links", f"<article><h1>Top {kw} links</h1><ul>{links}</ul></article>"
    words = lambda n: " ".join("".join(rng.choices(SYLLABLES, k=rng.randint(1, 3))) for _ in range(n))
    paras = "".join(f"<p>Lorem ipsum dolor sit amet {words(rng.randint(40, 70))}.</p>" for _ in range(3))
    return "Lorem ipsum", f"<article><h1>Lorem ipsum dolor sit amet</h1>{paras}</article>"


def _png(rng: random.Random, size: int = 16) -> bytes:
    r, g, b = (rng.randrange(256) for _ in range(3))
    raw = b"".join(b"\0" + bytes(v for x in range(size) for v in ((r + 8 * x) % 256, (g + 8 * y) % 256, b))
                   for y in range(size))
    chunk = lambda tag, data: struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def _pdf(text: str) -> bytes:
    page = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1", "replace")
    return (b"%%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
            b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n3 0 obj << /Type /Page /Parent 2 0 R /Contents 4 0 R"
            b" >> endobj\n4 0 obj << /Length %d >>\nstream\n%s\nendstream endobj\ntrailer << /Root 1 0 R >>\n%%%%EOF\n"
            % (len(page), page))

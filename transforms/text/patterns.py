"""Word-list regexes: many literal strings as one regex factored as a prefix tree.

Shared by the bad-words filter (``thresher.transforms.filters.c4_badwords``) and the URL
filter's banned sub-words (``thresher.transforms.filters.url_lists``).
"""
from __future__ import annotations

import re
from typing import Dict, Iterable


def trie_pattern(words: Iterable[str]) -> str:
    """A regex matching exactly the given strings, factored as a prefix tree:
    the same strings as ``"|".join(map(re.escape, words))``, without trying
    every word at every position. No words give "" (which matches everywhere)."""
    root: Dict[str, dict] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: Dict[str, dict]) -> str:
        alternatives = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not alternatives:
            return ""
        body = alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
        if "" in node:  # a word ends here: the rest is optional
            return (body if len(alternatives) > 1 else "(?:" + body + ")") + "?"
        return body

    return build(root)

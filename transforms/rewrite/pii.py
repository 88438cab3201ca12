"""PII redaction: replace e-mail addresses, public IP addresses and (optionally) phone numbers.

Reference: datatrove ``pipeline/formatters/pii.py`` (``PIIFormatter``, the PII
step of FineWeb). Its e-mail and IPv4 patterns are used unchanged, with their
quirks: the e-mail pattern is case-sensitive (``John@Example.com`` is not
matched) and the IPv4 pattern has no word boundaries (the ``1.2.3.4`` of
``v1.2.3.4`` is replaced). The standard library's ``ipaddress`` decides what
is public, as there. Placeholders are used in turn, as datatrove does, but the
turn restarts with every document so the output never depends on the order
documents reach a worker.

Differences from datatrove, from this project's brief:

* IPv6 addresses are redacted too (datatrove: IPv4 only; ``redact_ipv6=False``
  restores its behaviour);
* multicast and reserved addresses are left alone (datatrove replaces every
  ``is_global`` address, and Python counts 224.0.0.0/4 as global);
* phone numbers, off by default (``redact_phones``): "+" and a 1-3 digit
  country code then 8-15 digits in all, in groups separated by a space, dot
  or dash, with an optional parenthesised area code ("+44 20 7946 0958",
  "+1 (555) 123-4567", "+14155552671"); North-American 3-3-4 numbers
  ("(555) 123-4567", "555-123-4567", optional leading "1-"); national numbers
  with a trunk 0 and 10-11 digits ("020 7946 0958", "01 23 45 67 89"). Other
  national formats, short local numbers and bare digit runs are not matched.

Each pattern runs only on the lines that can hold a match (an "@", a digit
"." digit, "::" or hex digit ":" hex digit, eight digits with separators
between), found with byte translations of the whole text: matches never span
a newline, so the result is the same as running the patterns over the whole
text. Cost per document: ``benchmarks/step_speed.py``.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Dict, List, Set

from thresher.transforms.base import FilterStep, ParamError

# datatrove PIIFormatter defaults. example.com/org are reserved for examples; the IPv4 addresses are
# datatrove's "randomly generated list of ips" that did not answer ping.
EMAIL_REPLACEMENTS = ["email@example.com", "firstname.lastname@example.org"]
IP_REPLACEMENTS = ["22.214.171.124", "126.96.36.199", "188.8.131.52", "184.108.40.206", "220.127.116.11",
                   "18.104.22.168"]
IPV6_REPLACEMENTS = ["2001:db8::1"]  # RFC 3849 documentation prefix (not public: never redacted again)
PHONE_REPLACEMENTS = ["+1-202-555-0100"]  # 555-0100..0199 are reserved for fiction in North America

# datatrove's patterns.
_EMAIL = re.compile(
    r"\b[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+"
    r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?|\[(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|"
    r"[01]?[0-9][0-9]?|[a-z0-9-]*[a-z0-9]:)])")
_IPV4 = re.compile(r"(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)")
# IPv6 candidates (checked by ipaddress): hex groups and colons, optionally ending in a dotted IPv4,
# not glued to letters, digits, colons or a following ".digit" (a full stop after one is fine).
_IPV6 = re.compile(r"(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{1,4}|:)(?::[0-9A-Fa-f]{0,4}){1,7}"
                   r"(?:(?<=:)(?:[0-9]{1,3}\.){3}[0-9]{1,3})?(?![0-9A-Za-z:]|\.[0-9])")
_PHONE = re.compile(
    r"(?<![\w+.-])(?:"
    r"(?P<intl>\+[0-9]{1,3}(?:[ .-]\(?[0-9]{1,4}\)?|\([0-9]{1,4}\))?(?:[ .-][0-9]{1,8}){1,5}|\+[0-9]{8,15})"
    r"|(?P<nanp>(?:1[ .-])?(?:\([0-9]{3}\)[ .-]?|[0-9]{3}[ .-])[0-9]{3}[ .-][0-9]{4})"
    r"|(?P<trunk>0[0-9]{1,4}(?:[ .-][0-9]{2,8}){1,4})"
    r")(?![\w-]|\.[0-9])")
_PHONE_DIGITS = {"intl": (8, 15), "nanp": (10, 11), "trunk": (10, 11)}

# Byte classes for finding the lines that can hold a match (matches never span a newline):
# digits -> 0 ("@" for e-mails, "0.0" for IPv4); hex digits -> h ("::" or "h:h" for IPv6); for phones the
# separators a number may hold are deleted first, so a line can hold one only if it has "00000000".
_CLASSES = bytes(ord("0") if 48 <= b <= 57 else b if b in b".@\n" else 32 for b in range(256))
_HEX_CLASSES = bytes(ord("h") if bytes([b]) in b"0123456789abcdefABCDEF" else b if b in b":\n" else 32
                     for b in range(256))
_PHONE_CLASSES = bytes(ord("0") if 48 <= b <= 57 else b if b == 10 else ord("x") for b in range(256))
_PHONE_SEPARATORS = b" .-()+"


def _lines_with(classes: bytes, needle: bytes) -> List[int]:
    """Numbers of the lines of ``classes`` that contain ``needle``."""
    found, line, last = [], 0, 0
    at = classes.find(needle)
    while at != -1:
        line += classes.count(b"\n", last, at)
        found.append(line)
        last = classes.find(b"\n", at)
        if last == -1:
            break
        at = classes.find(needle, last)
    return found


def is_public_ip(address: str) -> bool:
    """A global unicast address (ipaddress ``is_global``, not multicast, not reserved)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


class _Replacer:
    """Replaces the matches of one kind in one document, taking placeholders in turn."""

    def __init__(self, placeholders: List[str]):
        self.placeholders = placeholders
        self.count = 0

    def next(self) -> str:
        self.count += 1
        return self.placeholders[(self.count - 1) % len(self.placeholders)]


class PiiRedact(FilterStep):
    """Replace e-mail addresses and public IP addresses (optionally phone numbers) with placeholders; never drops.

    Source: datatrove ``PIIFormatter`` (FineWeb); see the module docstring for the patterns and the differences.
    Statistics (annotations with ``annotate``): ``emails``, ``ips`` (IPv4 and IPv6), ``phones`` replaced.

    Parameters:
        redact_emails: replace e-mail addresses.
        redact_ips: replace IPv4 addresses (and IPv6 ones when ``redact_ipv6``).
        redact_ipv6: also replace IPv6 addresses (datatrove: IPv4 only).
        only_public_ips: replace only public addresses; private, loopback, link-local, reserved, multicast and
            unspecified ones stay (datatrove: True).
        redact_phones: replace phone numbers (international "+" numbers, North-American and trunk-0 numbers).
        email_replacements: placeholders for e-mail addresses, used in turn within a document.
        ip_replacements: placeholders for IPv4 addresses, used in turn.
        ipv6_replacements: placeholders for IPv6 addresses, used in turn.
        phone_replacements: placeholders for phone numbers, used in turn.
    """

    name = "pii"
    ANNOTATIONS = {"pii_emails": "int64", "pii_ips": "int64", "pii_phones": "int64"}
    ANNOTATION_DOCS = {"pii_emails": "e-mail addresses replaced", "pii_ips": "IP addresses replaced",
                       "pii_phones": "phone numbers replaced"}
    DROP_REASONS: Dict[str, str] = {}

    def __init__(self, redact_emails: bool = True, redact_ips: bool = True, redact_ipv6: bool = True,
                 only_public_ips: bool = True, redact_phones: bool = False,
                 email_replacements: List[str] = EMAIL_REPLACEMENTS, ip_replacements: List[str] = IP_REPLACEMENTS,
                 ipv6_replacements: List[str] = IPV6_REPLACEMENTS,
                 phone_replacements: List[str] = PHONE_REPLACEMENTS, **common):
        super().__init__(**common)
        for pname, value in (("email_replacements", email_replacements), ("ip_replacements", ip_replacements),
                             ("ipv6_replacements", ipv6_replacements), ("phone_replacements", phone_replacements)):
            if isinstance(value, str) or not value or not all(isinstance(v, str) for v in value):
                raise ParamError(pname, f"{pname} must be a non-empty list of strings, got {value!r}")
        self.redact_emails = redact_emails
        self.redact_ips = redact_ips
        self.redact_ipv6 = redact_ipv6
        self.only_public_ips = only_public_ips
        self.redact_phones = redact_phones
        self.email_replacements = list(email_replacements)
        self.ip_replacements = list(ip_replacements)
        self.ipv6_replacements = list(ipv6_replacements)
        self.phone_replacements = list(phone_replacements)

    def _ip_ok(self, address: str) -> bool:
        if self.only_public_ips:
            return is_public_ip(address)
        try:
            ipaddress.ip_address(address)
        except ValueError:
            return False
        return True

    def _redact_line(self, line: str, emails: _Replacer, ips: _Replacer, ipv6s: _Replacer,
                     phones: _Replacer) -> str:
        if self.redact_emails and "@" in line:
            line = _EMAIL.sub(lambda m: emails.next(), line)
        if self.redact_ips:
            if self.redact_ipv6 and ":" in line:
                line = _IPV6.sub(lambda m: ipv6s.next() if self._ip_ok(m.group(0)) else m.group(0), line)
            if "." in line:
                line = _IPV4.sub(lambda m: ips.next() if self._ip_ok(m.group(0)) else m.group(0), line)
        if self.redact_phones:
            line = _PHONE.sub(lambda m: phones.next() if _phone_ok(m) else m.group(0), line)
        return line

    def _candidate_lines(self, data: bytes) -> Set[int]:
        """The numbers of the lines that may hold something to redact."""
        found: Set[int] = set()
        if self.redact_emails or self.redact_ips:
            classes = data.translate(_CLASSES)
            if self.redact_emails:
                found.update(_lines_with(classes, b"@"))
            if self.redact_ips:
                found.update(_lines_with(classes, b"0.0"))
        if self.redact_ips and self.redact_ipv6 and b":" in data:
            hex_classes = data.translate(_HEX_CLASSES)
            found.update(_lines_with(hex_classes, b"::"))
            found.update(_lines_with(hex_classes, b"h:h"))
        if self.redact_phones:
            found.update(_lines_with(data.translate(_PHONE_CLASSES, _PHONE_SEPARATORS), b"00000000"))
        return found

    def clean(self, doc):
        text = doc.text
        emails, ips = _Replacer(self.email_replacements), _Replacer(self.ip_replacements)
        ipv6s, phones = _Replacer(self.ipv6_replacements), _Replacer(self.phone_replacements)
        candidates = self._candidate_lines(text.encode("utf-8", "surrogatepass"))
        if candidates:
            lines = text.split("\n")
            for i in sorted(candidates):  # in text order: placeholders are taken in turn
                lines[i] = self._redact_line(lines[i], emails, ips, ipv6s, phones)
            if emails.count or ips.count or ipv6s.count or phones.count:
                text = "\n".join(lines)
        stats: Dict[str, int] = {"emails": emails.count, "ips": ips.count + ipv6s.count, "phones": phones.count}
        return text, stats

    def decide(self, stats):
        return None


def _phone_ok(match: re.Match) -> bool:
    low, high = _PHONE_DIGITS[match.lastgroup]
    digits = sum(c.isdigit() for c in match.group(0))
    return low <= digits <= high

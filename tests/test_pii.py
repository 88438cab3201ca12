"""PII redaction: datatrove's e-mail and IPv4 behaviour, IPv6, phones, placeholders in turn, counts."""
from __future__ import annotations

import json

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from tests.conftest import SHARED_DATA, local_pipeline
from thresher.transforms.base import KEPT, REJECTED
from thresher.transforms.document import Document
from thresher.transforms.rewrite.pii import EMAIL_REPLACEMENTS, IP_REPLACEMENTS, PiiRedact, is_public_ip

E1, E2 = EMAIL_REPLACEMENTS
IP1, IP2 = IP_REPLACEMENTS[:2]
V6 = "2001:db8::1"
PHONE = "+1-202-555-0100"


def redact(text, **params):
    step = PiiRedact(**params)
    return step.clean(Document("d", text))


# -- e-mail ------------------------------------------------------------------------------------------------

def test_emails_are_replaced_with_placeholders_in_turn():
    text, stats = redact("Write to jane.doe@example.net, bob+news@mail.co.uk or x_y@test.io.")
    assert text == f"Write to {E1}, {E2} or {E1}."
    assert stats == {"emails": 3, "ips": 0, "phones": 0}


def test_placeholders_restart_with_every_document():
    step = PiiRedact()
    first = step.clean(Document("a", "a@b.io c@d.io"))[0]
    second = step.clean(Document("b", "e@f.io"))[0]
    assert (first, second) == (f"{E1} {E2}", E1)  # datatrove would go on with E1 for "e@f.io" only by luck


def test_email_pattern_is_datatrove_s_case_sensitive_one():
    assert redact("JANE@EXAMPLE.NET and Jane@Example.net")[0] == "JANE@EXAMPLE.NET and Jane@Example.net"
    assert redact("jane@Example.net")[0] == "jane@Example.net"  # the domain must be lower case
    assert redact("root@[192.168.0.1] hi")[0] == f"{E1} hi"  # an address literal is an e-mail, not an IP
    assert redact("not@an-email and @handle and a@b")[0] == "not@an-email and @handle and a@b"  # no dot


def test_custom_email_placeholder():
    assert redact("a@b.io c@d.io", email_replacements=["<EMAIL>"])[0] == "<EMAIL> <EMAIL>"


# -- IP addresses ------------------------------------------------------------------------------------------

def test_public_ipv4_is_replaced_and_the_rest_left_alone():
    kept = ["10.0.0.1", "172.16.5.4", "192.168.1.1", "127.0.0.1", "169.254.1.1", "0.0.0.0", "224.0.0.1",
            "240.0.0.1", "255.255.255.255", "192.0.2.1", "100.64.0.1"]
    text = "8.8.8.8 " + " ".join(kept) + " 1.1.1.1"
    assert redact(text)[0] == f"{IP1} " + " ".join(kept) + f" {IP2}"
    assert redact(text)[1]["ips"] == 2


def test_ipv4_pattern_has_datatrove_s_missing_boundaries():
    assert redact("version v1.2.3.4")[0] == f"version v{IP1}"  # 1.2.3.4 is a public address
    assert redact("256.1.1.1")[0] == f"2{IP1}"  # the pattern finds 56.1.1.1 inside
    assert redact("08.08.08.08")[0] == "08.08.08.08"  # ipaddress refuses leading zeros
    assert redact("3.14159 and 1.2.3")[0] == "3.14159 and 1.2.3"


def test_only_public_ips_off_replaces_every_valid_address():
    assert redact("10.0.0.1 and fe80::1", only_public_ips=False)[0] == f"{IP1} and {V6}"


def test_ipv6():
    text = "dns 2606:4700:4700::1111, 2001:4860:4860::8888. Local fe80::1, ::1, 2001:db8::7, ff02::1, ::"
    new, stats = redact(text)
    assert new == f"dns {V6}, {V6}. Local fe80::1, ::1, 2001:db8::7, ff02::1, ::"
    assert stats["ips"] == 2
    assert redact(text, redact_ipv6=False)[0] == text  # datatrove: IPv4 only
    assert redact("2606:4700:4700:0:0:0:0:1111 x")[0] == f"{V6} x"  # full form, no "::"
    # IPv4-mapped addresses are reserved (left), but their public IPv4 part is an IPv4 address
    assert redact("::ffff:8.8.8.8")[0] == f"::ffff:{IP1}"


def test_colons_that_are_not_addresses():
    text = "at 10:30:45, MAC 00:1A:2B:3C:4D:5E, slice a[1::2], std::vector, note: ok"
    assert redact(text)[0] == text


def test_is_public_ip():
    assert is_public_ip("8.8.8.8") and is_public_ip("2606:4700:4700::1111")
    assert not any(map(is_public_ip, ["10.1.2.3", "224.0.0.1", "ff02::1", "::ffff:8.8.8.8", "nonsense"]))


# -- phones ------------------------------------------------------------------------------------------------

PHONES = ["+44 20 7946 0958", "+1 (555) 123-4567", "+14155552671", "+33 1 23 45 67 89", "+49 30 12345678",
          "(555) 123-4567", "555-123-4567", "555.123.4567", "1-555-123-4567", "020 7946 0958", "01 23 45 67 89"]
NOT_PHONES = ["2023-01-15", "01.02.2023", "10 000 000 000", "555-1234", "12345678", "978-3-16-148410-0",
              "3.14159265358", "+1234567", "8.8.8.8x"]


@pytest.mark.parametrize("number", PHONES)
def test_phone_numbers(number):
    assert redact(f"Call {number} today", redact_phones=True) == (
        f"Call {PHONE} today", {"emails": 0, "ips": 0, "phones": 1})
    assert redact(f"Call {number} today")[0] == f"Call {number} today"  # off by default


@pytest.mark.parametrize("text", NOT_PHONES)
def test_not_phone_numbers(text):
    assert redact(f"see {text} here", redact_phones=True)[1]["phones"] == 0


def test_phone_digit_count_boundaries():
    assert redact("+1 234 5678", redact_phones=True)[1]["phones"] == 1  # 8 digits with "+": the minimum
    assert redact("+1 234 567", redact_phones=True)[1]["phones"] == 0  # 7
    assert redact("+123 456 789 012 345", redact_phones=True)[1]["phones"] == 1  # 15: the E.164 maximum
    assert redact("+123 456 789 012 3456", redact_phones=True)[1]["phones"] == 0  # 16
    assert redact("0123 456 7890", redact_phones=True)[1]["phones"] == 1  # trunk 0, 11 digits
    assert redact("0123 456 78901", redact_phones=True)[1]["phones"] == 0  # 12


# -- edges, annotations, Beam ------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", " ", "\n\n", "!!! ???", "one line", "中文文本没有个人信息。"])
def test_texts_without_pii_are_untouched(text):
    doc = Document("d", text)
    assert PiiRedact(redact_phones=True).process(doc) is doc


def test_cjk_text():
    text = "联系我：zhang@example.cn，电话 +86 10 1234 5678，服务器 8.8.8.8。"
    assert redact(text, redact_phones=True)[0] == f"联系我：{E1}，电话 {PHONE}，服务器 {IP1}。"


def test_multiline_document_keeps_its_lines_and_the_turn_runs_across_them():
    text = "first a@b.io\nnothing here\n\nlast c@d.io 8.8.8.8"
    assert redact(text)[0] == f"first {E1}\nnothing here\n\nlast {E2} {IP1}"


def test_annotations_and_dry_run():
    doc = Document("d", "a@b.io 8.8.8.8 +44 20 7946 0958")
    out = PiiRedact(annotate=True, redact_phones=True).process(doc)
    assert out.text == f"{E1} {IP1} {PHONE}"
    assert out.annotations == {"pii_emails": 1, "pii_ips": 1, "pii_phones": 1}
    assert set(out.annotations) == set(PiiRedact.ANNOTATIONS)
    dry = PiiRedact(dry_run=True).process(doc)
    assert dry.text == doc.text and dry.annotations == {"pii_emails": 1, "pii_ips": 1, "pii_phones": 0}


def test_parameters_are_checked():
    for bad in (dict(email_replacements=[]), dict(ip_replacements="1.2.3.4"), dict(phone_replacements=[1])):
        with pytest.raises(ValueError):
            PiiRedact(**bad)


def test_beam_never_drops():
    docs = [Document("a", "mail a@b.io"), Document("b", ""), Document("c", "plain")]
    with local_pipeline() as p:
        out = p | beam.Create(docs) | PiiRedact()
        assert_that(out[KEPT] | "k" >> beam.Map(lambda d: (d.id, d.text)),
                    equal_to([("a", f"mail {E1}"), ("b", ""), ("c", "plain")]), label="kept")
        assert_that(out[REJECTED], equal_to([]), label="rejected")


def test_real_article_texts(shared_data):
    truth = json.loads((SHARED_DATA / "extraction-scrapinghub-aeb" / "ground-truth.json").read_text())
    texts = [t["articleBody"] for t in truth.values()]
    step = PiiRedact(annotate=True, redact_phones=True)
    outs = [step.process(Document(str(i), t)) for i, t in enumerate(texts)]
    found = {k: sum(o.annotations[f"pii_{k}"] for o in outs) for k in ("emails", "ips", "phones")}
    print(f"\npii on {len(texts)} real articles: found {found}")
    assert len(outs) == len(texts)

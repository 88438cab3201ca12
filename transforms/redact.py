"""Remove credentials from text shown in logs and reports.

``redact(text)`` replaces with ``***``:

* the user information of a URL: ``https://user:pass@host/`` -> ``https://***@host/``;
* the value of a query (or fragment) parameter that carries a credential, such as the
  signatures and credentials of signed URLs (``X-Goog-Signature``, ``X-Amz-Credential``,
  ``Signature``, ``sig``...) and ``token``, ``access_token``, ``key``, ``api_key``,
  ``password``...: ``?X-Goog-Signature=abc&x=1`` -> ``?X-Goog-Signature=***&x=1``;
  only after ``?``, ``&``, ``#`` or ``;``, so a path segment such as ``/key=2024/`` is kept;
* ``password=...``, ``"client_secret": "..."`` and the like anywhere in the text;
* ``Bearer``/``Basic`` authorization values, and strings shaped like known secrets: AWS
  access key ids (``AKIA...``), Google OAuth tokens (``ya29.``) and API keys (``AIza...``),
  GitHub, Slack, Hugging Face and OpenAI-style tokens, JSON Web Tokens, PEM private keys.

Applied to what the project logs and reports (progress lines, error records,
``stats.json``, ``recipe.lock.yaml``, the summary table). Documents themselves
are data and are written as they are. Redacting twice gives the same text.
"""
from __future__ import annotations

import logging
import re
from typing import Any

MASK = "***"

#: query parameters whose value is a credential (compared lowercased)
SECRET_PARAMS = (
    "x-goog-signature", "x-goog-credential", "x-goog-security-token", "googleaccessid",
    "x-amz-signature", "x-amz-credential", "x-amz-security-token", "awsaccesskeyid",
    "signature", "sig", "token", "access_token", "id_token", "refresh_token", "session_token",
    "auth", "authorization", "key", "apikey", "api_key", "api-key", "client_secret", "secret",
    "password", "passwd", "pwd",
)
#: names whose value is a credential wherever they appear as ``name=value`` or ``"name": value``
SECRET_NAMES = ("password", "passwd", "client_secret", "secret_access_key", "aws_secret_access_key",
                "private_key", "access_token", "refresh_token", "api_key", "apikey", "auth_token")

_USERINFO = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)[^/\s@?#\"'<>]+@")
_QUERY = re.compile(r"([?&#;])(" + "|".join(re.escape(p) for p in SECRET_PARAMS) + r")=([^&#;\s\"'<>]*)",
                    re.IGNORECASE)
_NAMED = re.compile(r"(?<![A-Za-z0-9_-])([\"']?(?:" + "|".join(SECRET_NAMES)
                    + r")[\"']?\s*[:=]\s*[\"']?)([^\"'\s,;&}]+)", re.IGNORECASE)
_AUTH = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_TOKENS = re.compile("|".join((
    r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b",  # AWS access key id
    r"\bya29\.[0-9A-Za-z_-]+",  # Google OAuth access token
    r"\bAIza[0-9A-Za-z_-]{35}",  # Google API key
    r"\bgh[pousr]_[A-Za-z0-9]{30,}",  # GitHub tokens
    r"\bgithub_pat_[A-Za-z0-9_]{20,}",
    r"\bxox[abposr]-[A-Za-z0-9-]{10,}",  # Slack
    r"\bhf_[A-Za-z0-9]{30,}",  # Hugging Face
    r"\bsk-[A-Za-z0-9_-]{20,}",  # OpenAI-style secret keys
    r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",  # JSON Web Token
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[A-Za-z0-9+/=\s]*(?:-----END [A-Z ]*PRIVATE KEY-----)?",
)))


def redact(text: str) -> str:
    """``text`` with credentials replaced by ``***`` (see the module docstring)."""
    if not text or not isinstance(text, str):
        return text
    text = _USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    text = _QUERY.sub(lambda m: f"{m.group(1)}{m.group(2)}={MASK}" if m.group(3) else m.group(0), text)
    text = _NAMED.sub(lambda m: m.group(1) + MASK, text)
    text = _AUTH.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return _TOKENS.sub(MASK, text)


def redact_json(value: Any) -> Any:
    """A copy of a JSON-like value (dicts, lists, tuples) with every string, keys too, redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_json(k): redact_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_json(v) for v in value)
    return value


class RedactFilter(logging.Filter):
    """A handler filter that redacts each record's message and traceback before it is shown."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


#: one instance, so adding it to a handler again is a no-op
LOG_FILTER = RedactFilter()


def redact_logs(handlers=None) -> None:
    """Redact everything the given handlers (default: the root logger's) show."""
    for handler in logging.getLogger().handlers if handlers is None else handlers:
        handler.addFilter(LOG_FILTER)

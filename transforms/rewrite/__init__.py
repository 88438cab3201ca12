"""Steps that rewrite text: Unicode and whitespace normalisation, PII placeholders."""

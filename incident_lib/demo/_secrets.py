"""Fake credentials planted on purpose in the demo data (obviously fake, pattern-true).

They sit where real ones leak: a DSN in a start-up line, a bearer token in a debug
line, an environment dump, a token in a URL, passwords in SQL text. Capture must
redact every one of them.
"""

from __future__ import annotations

#: a real-looking HS256 JWT (three base64url parts); the payload says it is not real
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJkZW1vLXVzZXItMDAwMCIsIm5hbWUiOiJEZW1vIFVzZXIgKG5vdCBhIHJlYWwgdG9rZW4pIiwiaXNz"
    "IjoiaHR0cHM6Ly9hdXRoLmV4YW1wbGUuY29tIiwiaWF0IjoxNzkzNzAwMDAwLCJleHAiOjE3OTM3MDM2MDB9."
    "pHSoJYcyCGFtv8p0EWZisy2G8CiMkKgqcHt0tvvG4Og"
)
AWS_ACCESS_KEY_ID = "AKIADEMONOTREAL12345"
AWS_SECRET_ACCESS_KEY = "dEmOnOtReAlSeCrEtKeY/0000/fAkE+000000000"
DD_API_KEY = "deadbeefcafef00d0123456789abcdef"
URL_TOKEN = "tok_demo_8f14e45fceea167a5a36dedd4bea2543"
API_DB_PASSWORD = "Api-Demo-Pw-NotReal-2026"
CHECKOUT_DB_PASSWORD = "Checkout-Demo-Pw-NotReal-2026"
DBLINK_PASSWORD = "Report-Demo-Pw-NotReal"
VAULT_ROLE_PASSWORD = "A1a-VaultDemoRotated-NotReal-0001"

PLANTED = (
    JWT,
    AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY,
    DD_API_KEY,
    URL_TOKEN,
    API_DB_PASSWORD,
    CHECKOUT_DB_PASSWORD,
    DBLINK_PASSWORD,
    VAULT_ROLE_PASSWORD,
)

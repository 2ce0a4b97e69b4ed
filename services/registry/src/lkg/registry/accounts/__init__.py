"""Accounts (账号) of the embedded default and client systems (对接的其他政府系统): login with a short-lived
access token and a rotating refresh token, lockout after repeated failures, the login audit, and client
credentials with scopes (``/api/v1/auth/...``). See docs/accounts.md."""

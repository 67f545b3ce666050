"""Operators, roles and sessions: scrypt passwords, lockout, card second factor, permissions."""

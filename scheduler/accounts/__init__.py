"""Accounts: users and roles (schemas, service), tokens and passwords (tokens), the audit log, `beamtime user`."""

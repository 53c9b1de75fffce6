"""Tests of the metadata store (SQLite and PostgreSQL)."""

"""Tests of filerelay's config modules."""

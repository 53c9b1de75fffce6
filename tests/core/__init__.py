"""Tests of filerelay's core modules."""

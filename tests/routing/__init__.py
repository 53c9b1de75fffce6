"""Tests of filerelay's routing modules."""

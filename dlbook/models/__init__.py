"""Assembled models the chapters train."""

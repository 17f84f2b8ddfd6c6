"""Routing and calibration: where each labeled item goes, and the guarantee behind it."""

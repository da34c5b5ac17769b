"""Registers the estimators of the chain, in order of preference (see chain.py)."""

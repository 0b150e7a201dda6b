"""Crosswalk stores: original identifiers <-> pseudonyms and input <-> output references, encrypted."""

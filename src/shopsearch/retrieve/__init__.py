"""Retrieve stage: candidate generation per signal, filters, fusion, and the search engine."""

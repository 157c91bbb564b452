"""iisearch-local: deep web research on your own machine with the II-Search models."""

__version__ = "0.1.0"

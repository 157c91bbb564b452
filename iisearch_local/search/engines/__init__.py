"""Built-in web search engines (each registered under ``iisearch_local.search_backends``)."""

"""``bps-labeler``: the command line over the same core the app uses.

``main`` assembles the parser from one module per command group (``data``, ``datasources``,
``embeddings``, ``selection``, ``export``, ``app``); ``_common`` holds what they share.
"""

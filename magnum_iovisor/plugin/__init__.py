"""The libnetwork remote driver: HTTP routes -> driver logic -> dataplane.

``routes`` validates each request against ``schemas`` and hands it to the
``driver.Driver``, which keeps its networks and endpoints in ``state`` and
plugs containers with one of the interface kinds in ``links``.
"""

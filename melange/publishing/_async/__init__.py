"""The publishers, for asyncio; the threaded ones are generated from them.

Written once, for asyncio: ``scripts/unasync.py`` generates the threaded twin in the
``_sync`` package beside this one (``make unasync``). Edit this file.
"""

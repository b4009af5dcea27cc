"""The consume core: one queue's runner, and the handling of its messages.

Written once, for asyncio: ``scripts/unasync.py`` generates the threaded twin in
``melange/consuming/_sync/`` from this file (``make unasync``). Edit this file.
"""

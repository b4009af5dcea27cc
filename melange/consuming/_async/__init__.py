"""The consume core: one queue's runner, and the handling of its messages.

Written once, for asyncio: ``scripts/unasync.py`` generates the threaded twin in the
``_sync`` package beside this one (``make unasync``). Edit this file.
"""

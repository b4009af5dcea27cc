"""Test support written once, used by the tests and the benchmarks.

- ``clock``: a monotonic clock the test moves by hand.
- ``polling``: wait for an outcome by polling with a deadline.
- ``servers``: a moto SQS/SNS server, the machine's Redis, a Redis of a test's own.
- ``loopback``: loopback HTTP/TCP servers for faults a real broker cannot produce.
- ``requests``: count the HTTP requests a boto3 client sends, via botocore's events.
- ``faults``: backends and caches that misbehave, over melange's in-memory ones.
- ``messaging``: a JSON registry; receive with a deadline; read what arrived.
- ``consumers``: consumers that record what they handle; a dispatcher run in a thread.

The contract suites live in ``tests/contract``.
"""

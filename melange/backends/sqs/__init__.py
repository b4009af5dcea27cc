"""The SQS/SNS backend on botocore: AWS or any emulator by endpoint, threads or asyncio.

Every request is planned once, without I/O: ``requests`` shapes them, ``admin``,
``transport`` and ``inspection`` build the plans of each operation as generators that
yield one ``calls.SqsCall`` at a time, ``directory`` caches URLs and ARNs and turns
botocore errors into melange's, ``errors`` classifies them. ``options`` holds the
values both halves are configured with (``Timeouts``, ``RetryBudget``, ``Endpoints``,
``ConnectionLimits``) and turns them into botocore ``Config`` objects once
(``client_specs``). ``clients``/``direct`` send calls with blocking botocore
(``backend.SqsBackend``); ``aio_clients``/``aio_direct`` await them on aiobotocore
(``aio.AsyncSqsBackend``).

May import: ``melange.exceptions``, ``messages``, ``limits``, ``wire``, ``topology`` and
``melange.backends``' protocols. Imports boto3 (and aiobotocore, for ``aio``).
"""

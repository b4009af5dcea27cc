# aiobotocore ships no type information; melange.aio uses only its session.

"""The domain: orders, their status machine, money, ids, who is calling, the errors. pydantic and the
standard library (and simplejson for exact JSON numbers) only: no boto3, no env, no HTTP. Imports nothing
else of ours."""

"""Schema fuzzing: generated valid and invalid requests from the OpenAI spec, via schemathesis.

Import `conformance.fuzz.runner.run_fuzz` to fuzz; `conformance.fuzz.results` holds the data model
and stays importable without schemathesis.
"""

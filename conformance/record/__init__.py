"""Record an application's real OpenAI API calls, then replay them against another provider.

`conformance record` is a forwarding proxy (proxy.py) that writes every call, with the shape of its
answer (shape.py), as a case in the suite's own YAML format (cassette.py). `conformance replay`
runs that cassette through the normal runner and reports (replay.py), so "will my application work
on provider X?" is answered with the application's own calls. cli.py wires both into `conformance`.
"""

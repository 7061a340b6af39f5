"""HTTP routes: thin glue between requests, the model registry and the response builders."""

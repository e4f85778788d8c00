"""What every REST API module of the project shares, as the HackSoft Django Styleguide example's ``api`` app.

The error body and the common OpenAPI responses (``responses``), pagination (``pagination``), the JSON
parser and renderer, the per-user throttle, the token scheme and upload encoding of the schema
(``openapi``), looking an object up by the id in a path (``lookups``) and CSV downloads (``exports``).
It imports neither ``scoring`` nor ``simulations``: both build on it.
"""

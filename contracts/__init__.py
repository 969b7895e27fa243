"""kstream's API contract: pydantic models for every body in the spec (auth, upload, transcode, metadata, stream),
the error codes (errors), the envelope, and the OpenAPI document generated from them (contracts/openapi.yaml,
checked for drift by the tests). Import the submodule you need; this package imports nothing eagerly, so a
function loads only the models it uses.
"""

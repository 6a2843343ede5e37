"""Source declarations as typed models: one module per part of a source file.

`pagination` (one model per style, a tagged union on `style`), `auth` (secret references, one model per
auth kind, a tagged union on `type`; TLS), `source` (the source file: limits, retries, SOAP, streams).
The models hold every default once and emit the JSON Schema editors use (`schemas/json/`).
Reading a file goes through `core.declarations` (errors name the file and the key path);
`connectors.config.load_source` loads one and resolves its endpoint.
"""

"""Attachments (附件) of a matter: photos and documents uploaded from mobile, with size and type limits,
stored by the service.

**Where the bytes live.** In the service's own PostgreSQL database, as ``bytea``, content-addressed by
SHA-256 (``attachment_content``), with one metadata row per upload (``attachment``). Chosen over a storage
directory because the bytes then share the transaction of the metadata row and of the audit entry (no
orphan file after a rollback, no row pointing at a file a crash lost), every replica of the service sees
them without a shared volume (Kubernetes), and the database's backups and point-in-time recovery cover
them. PostgreSQL large objects were not used: they need their own clean-up (``lo_unlink``), are not
covered by ``pg_dump`` of a schema, and gain nothing at the sizes allowed here (10 MiB by default; TOAST
stores ``bytea`` out of line, compressed where it helps). The same file uploaded twice is stored once.

**Types are sniffed.** The declared ``Content-Type`` of the part is a claim, not a fact: the service reads
the file's first bytes (magic numbers: JPEG ``FF D8 FF``, PNG ``89 50 4E 47 0D 0A 1A 0A``, PDF ``%PDF-``,
HEIF/HEIC ``ftyp`` + brand, Office Open XML = a ZIP whose directory holds ``[Content_Types].xml`` and
``word/`` or ``xl/``) and stores the sniffed type. An unknown or disallowed content is 415
``attachment_type_not_allowed``; a declared type that contradicts the content is 415
``attachment_type_mismatch``; a file over ``attachment_max_bytes`` is 413 ``attachment_too_large``.

**Reach.** Whoever sees the matter sees and downloads its attachments (404 otherwise, as for the matter);
those who act on it (the reporting, resolving and holding units, the coordination office) may upload to it
while it is open (403 for the others, 409 once it is off the books). Every upload is in the matter's
append-only audit trail.
"""

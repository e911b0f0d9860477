"""The Blobs port (``base.py``) and its implementations: ``memory.py`` (one
process, the tests), ``files.py`` (the local filesystem, the embedded
default under the data folder) and ``s3.py`` (an S3-compatible object store,
for clusters: every node reads what any node stored)."""

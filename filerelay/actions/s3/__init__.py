"""The ``s3`` action: upload to S3-compatible storage (whole or multipart, resumable).

``action`` holds the action; ``client`` the pooled boto3 clients and error translation;
``multipart``, ``parts``, ``objects`` and ``digests`` the upload's pieces. boto3 is imported
only inside functions.
"""

from filerelay.actions.s3.action import S3Action, S3Config

__all__ = ["S3Action", "S3Config"]

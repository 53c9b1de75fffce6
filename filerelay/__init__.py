"""filerelay: watch directory trees and run routed pipelines on each completely written file."""

__version__ = "0.1.0"

"""The file-system actions: ``copy``, ``move``, ``delete`` and ``archive``.

``ops`` holds the safe file operations they share (atomic placing, error translation) and
``destinations`` the rendering and checking of a destination path.
"""

from filerelay.actions.fs.archive import ArchiveAction
from filerelay.actions.fs.copy import CopyAction
from filerelay.actions.fs.delete import DeleteAction
from filerelay.actions.fs.move import MoveAction

__all__ = ["ArchiveAction", "CopyAction", "DeleteAction", "MoveAction"]

from typing import Any

def version() -> str: ...
def __getattr__(name: str) -> Any: ...  # the ctypes plumbing is internal

import logging

LOGGER: logging.Logger
LOG_OFF: int
LOG_ERROR: int
LOG_WARN: int
LOG_INFO: int
LOG_DEBUG: int

def wanted_level() -> int: ...
def sync() -> None: ...

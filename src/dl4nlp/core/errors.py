"""Errors users see as one clear line (file, line, problem), never a traceback dump."""


class Dl4nlpError(Exception):
    """Base class: the CLI prints ``error: <message>`` and exits with status 2."""


class ConfigError(Dl4nlpError):
    """A config file, section, key or value is wrong."""


class DataError(Dl4nlpError):
    """An input file is missing or malformed; the message names the file and line."""


class RunError(Dl4nlpError):
    """A run folder is missing, incomplete or from an incompatible version."""

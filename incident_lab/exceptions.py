"""One hierarchy for every error incident_lab raises on purpose.

`UsageError` and its children are the user's mistakes: the command line turns them
into one line on stderr and exit code 2. Anything else escaping a probe is caught by
the runner and becomes an inconclusive result, never a crash.
"""


class IncidentLabError(Exception):
    """Base class of incident_lab's own errors."""


class UsageError(IncidentLabError):
    """The user asked for something that cannot be done as asked."""


class UnknownProbeError(UsageError):
    """No probe is registered under the requested id."""


class ParameterError(UsageError):
    """A probe parameter is unknown, missing, of the wrong type or out of bounds."""


class TargetError(UsageError):
    """A target reference is malformed or names an unknown kind."""


class DuplicateProbeError(UsageError):
    """Two probe sources register the same id."""


class DuplicateKindError(UsageError):
    """Two sources register the same target kind."""


class PatternError(UsageError):
    """A failure-pattern file is invalid: the message names the file, the field and the reason."""


class ArchiveError(IncidentLabError):
    """The archive is missing, unreadable or would be overwritten."""

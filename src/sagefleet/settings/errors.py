"""Errors of the settings package: every one carries a list of actionable input errors."""

from __future__ import annotations

from collections.abc import Sequence

from sagefleet.errors import InputError, SagefleetError


def _summary(title: str, errors: Sequence[InputError]) -> str:
    lines = [f"{title}: {len(errors)} problem(s)"]
    lines.extend(f"  - {error.render()}" for error in errors)
    return "\n".join(lines)


class ValidationFailed(SagefleetError):
    """Input is invalid; ``errors`` lists every problem found, not just the first."""

    def __init__(self, errors: Sequence[InputError], title: str = "invalid input") -> None:
        self.errors: list[InputError] = list(errors)
        super().__init__(_summary(title, self.errors))


class MergeConflict(InputError):
    """Two sources give different values for the same key path of settings.json."""

    def __init__(
        self,
        *,
        path: str,
        first_source: str,
        first_value: str,
        second_source: str,
        second_value: str,
        host: str | None = None,
    ) -> None:
        self.path = path
        self.first_source = first_source
        self.second_source = second_source
        super().__init__(
            f"conflicting values: {first_value} from {first_source}"
            f" vs {second_value} from {second_source}",
            host=host,
            field=path,
            fix=(
                f"make {first_source} and {second_source} agree on {path}, or drop it from one "
                "of them (sagefleet never lets the last source win silently)"
            ),
        )


class MergeFailed(ValidationFailed):
    """A merge found conflicts; ``errors`` holds one :class:`MergeConflict` per key path."""

    def __init__(self, conflicts: Sequence[MergeConflict]) -> None:
        self.conflicts: list[MergeConflict] = list(conflicts)
        super().__init__(self.conflicts, title="settings merge failed")


class OverwriteRefused(SagefleetError):
    """A host's current settings.json must not be replaced by the new document; ``reason``
    says why (names only, never values). The caller names the host and the file."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)

"""A credential that never shows itself: not in ``repr``/``str``/f-strings/logs, and never in a pickle."""
from __future__ import annotations


class Secret:
    """Holds a credential in this process only.

    Pickling one is refused (``TypeError``): what is pickled travels (Dask workers over plain
    TCP, DataLoader workers, caches on disk), and every process takes its credentials from
    its own environment, profile or role instead. Objects that hold a ``Secret``
    (:class:`~sen12stac.store.s3.S3Settings`) leave it out of their own pickles.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"

    def __reduce__(self):
        raise TypeError("a Secret is never pickled: each process takes credentials from its own environment, profile or role")

    def __copy__(self) -> "Secret":
        return self

    def __deepcopy__(self, memo: dict) -> "Secret":
        return self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


def secret(value: "str | Secret | None") -> Secret | None:
    """``value`` as a :class:`Secret` (None for None or an empty string)."""
    if value is None or value == "":
        return None
    return value if isinstance(value, Secret) else Secret(str(value))

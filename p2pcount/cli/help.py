"""How ``--help`` reads: whole one-line summaries in command lists, values by name.

Click cuts a command's summary in a list at about 45 characters ("Write an overlay per
image: a dot per detected head, the..."); here the summary is the docstring's whole first
paragraph, wrapped. Typer shows a list argument as ``{PATH}...`` in the usage line and
``PATH <list[str]>`` in the argument list, and option values as ``<float range>`` or
``<str>``; here arguments read ``PATH...`` and an option's value is named by its metavar,
by default its long name (``--max-pixels MAX_PIXELS``). Choices stay ``<a|b|c>``.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperOption


class _NamedArgument(TyperArgument):
    """An argument shown by its metavar: ``PATH...`` (repeatable), ``[PATH]`` (optional)."""

    def _shown_name(self) -> str:
        name = self.metavar or self.name.upper()
        return name + ("..." if self.nargs != 1 else "")

    def _usage_display_name(self) -> str:
        return self._shown_name() if self.required else f"[{self._shown_name()}]"

    def _rich_display_name(self) -> str:
        return self._shown_name()

    def display_type_rich(self, ctx: Any) -> None:
        return None


def _is_choice(option: TyperOption) -> bool:
    descriptor = getattr(option, "type_descriptor", None)  # typer ≥ 0.20; click's type before
    if descriptor is not None:
        return bool(descriptor.is_choice)
    return bool(getattr(getattr(option, "type", None), "choices", None))


class Command(TyperCommand):
    """A command whose summary in lists is its docstring's first paragraph, uncut."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.short_help is None and self.help:
            self.short_help = " ".join(self.help.strip().split("\n\n")[0].split())
        for param in self.params:
            if type(param) is TyperArgument:
                param.__class__ = _NamedArgument
            elif (
                isinstance(param, TyperOption)
                and param.metavar is None
                and not param.is_flag
                and not _is_choice(param)
            ):
                longest = max(param.opts, key=len)
                param.metavar = longest.lstrip("-").replace("-", "_").upper()

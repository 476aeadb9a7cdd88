"""The `/canary` command grammar: the text Slack sends in, a command or a reply-ready error out.

    /canary SERVICE start image=IMG [strategy=KIND] [steps=10,50,100] [window=10m] [force]
    /canary SERVICE status              (also plain `/canary SERVICE`)
    /canary SERVICE pause | resume | abort | history
    /canary SERVICE promote [force]
    /canary SERVICE undo [REVISION]
    /canary SERVICE candidate image=IMG
    /canary SERVICE schedule WHEN image=IMG
    /canary list
    /canary freeze [SERVICE] until WHEN [reason TEXT…]
    /canary unfreeze [SERVICE]
    /canary help [COMMAND]              (also an empty `/canary`)

Actions and option keys are case-insensitive and service names are lowercased. The service comes
before its action; `/canary start SERVICE …` is answered with the command in the right order.
`freeze` and `unfreeze` come first, since their service is optional.
Slack's link markup (`<http://reg/app:1|reg/app:1>`), its `&lt;` escapes and quotes or backticks
around values are undone before parsing. Purely computational, no side effects: every text gets
a command or a `CommandError`, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from bot.close_names import close_names
from bot.durations import format_duration
from bot.images import parse_image
from bot.moments import Moment, parse_moment
from bot.overrides import format_steps, parse_steps, parse_window
from bot.strategy_specs import StrategyKind
from handlers.commands import (
    Abort,
    Command,
    CommandError,
    FreezeReleases,
    Help,
    History,
    ListReleases,
    Pause,
    Promote,
    RecordCandidate,
    Resume,
    ScheduleRelease,
    ServiceCommand,
    Start,
    Status,
    Undo,
    UnfreezeReleases,
)

MAX_TEXT = 1000
# Errors name every service only while the list stays short enough to read.
_NAMED_SERVICES = 10
_SLACK_LINK = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_COMMA = re.compile(r"\s*,\s*")
_QUOTES = "\"'`“”‘’„«»"  # noqa: RUF001 - phones and Macs turn typed quotes into curly ones
MAX_REASON = 200  # a freeze's reason is repeated in every refusal it causes
_REASON = re.compile(r"(?:^|\s)[\"'`“”‘’]*reason[\"'`“”‘’]*(?:[:=]|\s|$)", re.IGNORECASE)  # noqa: RUF001


@dataclass(frozen=True, kw_only=True)
class _Param:
    """A positional argument or a `key=value` option; `name` is the command's field."""

    name: str
    form: str  # how usage shows the value
    parse: Callable[[str], object]  # raises ValueError with a one-sentence message
    show: Callable[[Any], str] = str  # writes the parsed value back for format_command
    required: bool = False
    two_words: bool = False  # a positional that may take the next word too ("mon 06:00")


@dataclass(frozen=True, kw_only=True)
class _Spec:
    """One action: what follows it and which command it builds (its fields are param names)."""

    action: str
    summary: str
    build: Callable[..., Command]
    takes_service: bool = True
    positionals: tuple[_Param, ...] = ()
    options: tuple[_Param, ...] = ()
    flags: tuple[str, ...] = ()  # bare words that set a field to True (`force`)
    details: str = ""
    # A command of its own shape (freeze): reads (words, the text after the action, services)
    # and writes the words after the action back; `form` is its usage.
    custom: Callable[[list[str], str, Collection[str]], Command | CommandError] | None = None
    write: Callable[[Any], list[str]] | None = None
    form: str = ""


def _either(names: list[str]) -> str:
    return " or ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} or {names[-1]}"


def _closest(word: str, choices: Collection[str]) -> list[str]:
    # Typing the start of a name ("canary", "fop") is as common as a typo in it.
    starts = sorted(choice for choice in choices if choice.startswith(word))
    return starts[:3] or close_names(word, choices)


def _hint(word: str, choices: Collection[str], otherwise: str) -> str:
    close = _closest(word, choices)
    return f"did you mean {_either(close)}?" if close else otherwise


def _image(text: str) -> str:
    return parse_image(text).text


def _strategy(text: str) -> StrategyKind:
    kinds = [kind.value for kind in StrategyKind]
    if text.casefold() in kinds:
        return StrategyKind(text.casefold())
    raise ValueError(f"unknown strategy {text!r}: {_hint(text, kinds, 'use ' + _either(kinds))}")


def _revision(text: str) -> int:
    if not (text.isascii() and text.isdigit() and int(text) > 0):
        raise ValueError(f"undo's revision must be a whole number above 0 (got {text!r})")
    return int(text)


def _moment_text(moment: Moment) -> str:
    return moment.text


def _freeze(_given: list[str], text: str, services: Collection[str]) -> Command | CommandError:
    """`freeze [SERVICE] until WHEN [reason TEXT…]`; the reason keeps what was typed."""
    found = _REASON.search(text)
    reason = " ".join(text[found.end() :].split()).strip(_QUOTES) if found else ""
    words = _words(text[: found.start()] if found else text, unwrap=False)
    words = [part for word in words for part in _split_key(word, "until")]
    service = None
    if words and words[0].casefold() != "until":
        service = words.pop(0).casefold()
        if service not in services:
            return _not_a_service(service, services, usage("freeze"))
    example = f"`/canary freeze {service or 'SERVICE'} until mon 06:00 reason release freeze`"
    if not words or words[0].casefold() != "until":
        return CommandError(
            message=f"freeze needs until WHEN, e.g. {example}", usage=usage("freeze")
        )
    try:
        until = parse_moment(" ".join(words[1:])) if words[1:] else None
    except ValueError as err:
        return CommandError(message=f"until {err}", usage=usage("freeze"))
    if until is None:
        return CommandError(message=f"until needs a time, e.g. {example}", usage=usage("freeze"))
    if len(reason) > MAX_REASON:
        message = f"that reason is {len(reason)} characters: a reason takes at most {MAX_REASON}"
        return CommandError(message=message, usage=usage("freeze"))
    return FreezeReleases(service=service, until=until, reason=reason)


def _write_freeze(command: FreezeReleases) -> list[str]:
    reason = ["reason", command.reason] if command.reason else []
    return [*([command.service] if command.service else []), "until", command.until.text, *reason]


def _unfreeze(words: list[str], _text: str, services: Collection[str]) -> Command | CommandError:
    if not words:
        return UnfreezeReleases()
    service = words[0].casefold()
    if service not in services:
        return _not_a_service(service, services, usage("unfreeze"))
    if len(words) > 1:
        return CommandError(
            message=f"unexpected {words[1]!r} after unfreeze", usage=usage("unfreeze")
        )
    return UnfreezeReleases(service=service)


def _write_unfreeze(command: UnfreezeReleases) -> list[str]:
    return [command.service] if command.service else []


def _split_key(word: str, key: str) -> list[str]:
    """`until=2h` as `until 2h`: the key=value habit of the other commands."""
    name, equals, value = word.partition("=")
    return [name, value] if equals and name.casefold() == key and value else [word]


def _topic(text: str) -> str:
    if text.casefold() in _SPECS:
        return text.casefold()
    raise ValueError(f"no help on {text!r}: {_hint(text, _SPECS, 'try ' + _either([*_SPECS]))}")


_SPECS: dict[str, _Spec] = {
    spec.action: spec
    for spec in (
        _Spec(
            action="start",
            summary="start a canary release of IMG",
            build=Start,
            options=(
                _Param(name="image", form="IMG", parse=_image, required=True),
                _Param(name="strategy", form="KIND", parse=_strategy),
                _Param(name="steps", form="10,50,100", parse=parse_steps, show=format_steps),
                _Param(name="window", form="10m", parse=parse_window, show=format_duration),
            ),
            flags=("force",),
            details=(
                "IMG is pinned: a tag other than latest, or a digest. "
                f"KIND is {_either([kind.value for kind in StrategyKind])}. Steps are percentages "
                "or replica counts, as the strategy takes them; window is one observation window. "
                "Options left out come from the service's configuration. During a freeze only an "
                "admin may start, by adding force."
            ),
        ),
        _Spec(action="status", summary="where the release stands", build=Status),
        _Spec(action="pause", summary="hold the release where it is", build=Pause),
        _Spec(action="resume", summary="let a paused release go on", build=Resume),
        _Spec(
            action="promote",
            summary="give the new version all traffic now",
            build=Promote,
            flags=("force",),
            details="During a freeze only an admin may promote, by adding force.",
        ),
        _Spec(
            action="undo",
            summary="roll back to the version before, or to REVISION",
            build=Undo,
            positionals=(_Param(name="revision", form="REVISION", parse=_revision),),
        ),
        _Spec(action="abort", summary="stop the release and undo it", build=Abort),
        _Spec(action="history", summary="past releases and who did what", build=History),
        _Spec(
            action="candidate",
            summary="record IMG as a release candidate for the nightly release",
            build=RecordCandidate,
            options=(_Param(name="image", form="IMG", parse=_image, required=True),),
        ),
        _Spec(
            action="schedule",
            summary="start a release of IMG later, at WHEN",
            build=ScheduleRelease,
            positionals=(
                _Param(
                    name="at",
                    form="WHEN",
                    parse=parse_moment,
                    show=_moment_text,
                    required=True,
                    two_words=True,
                ),
            ),
            options=(_Param(name="image", form="IMG", parse=_image, required=True),),
            details=(
                "WHEN is a time of day such as 02:00 (the next one, in the service's nightly "
                "time zone, else UTC), a day and time such as tomorrow 02:00 or mon 02:00, or "
                "an ISO date-time such as 2026-11-23T02:00+01:00."
            ),
        ),
        _Spec(
            action="list",
            summary="services and their live releases",
            build=ListReleases,
            takes_service=False,
        ),
        _Spec(
            action="freeze",
            summary="hold releases of SERVICE (or of every service) until WHEN",
            build=FreezeReleases,
            takes_service=False,
            custom=_freeze,
            write=_write_freeze,
            form="/canary freeze [SERVICE] until WHEN [reason TEXT…]",
            details=(
                "WHEN is 2h, 18:00, tomorrow 09:00, mon 06:00 or 2026-11-23T06:00, in the "
                "service's nightly time zone, else UTC. A freeze refuses start and promote, "
                "never undo or pause; an admin may still add force."
            ),
        ),
        _Spec(
            action="unfreeze",
            summary="lift the freeze of SERVICE (or of every service)",
            build=UnfreezeReleases,
            takes_service=False,
            custom=_unfreeze,
            write=_write_unfreeze,
            form="/canary unfreeze [SERVICE]",
        ),
        _Spec(
            action="help",
            summary="this help, or one command's",
            build=Help,
            takes_service=False,
            positionals=(_Param(name="topic", form="COMMAND", parse=_topic),),
        ),
    )
}
_SERVICE_ACTIONS = [action for action, spec in _SPECS.items() if spec.takes_service]


def _shown(spec: _Spec, param: _Param) -> str:
    return f"{param.name}={param.form}" if param in spec.options else param.form


def _form(spec: _Spec) -> str:
    if spec.form:
        return spec.form
    words = ["/canary", *(["SERVICE"] if spec.takes_service else []), spec.action]
    params = (*spec.positionals, *spec.options)
    words += [_shown(spec, p) if p.required else f"[{_shown(spec, p)}]" for p in params]
    words += [f"[{flag}]" for flag in spec.flags]
    return " ".join(words)


@lru_cache(maxsize=256)  # on the ack's path for every malformed command
def usage(action: str) -> str:
    """One line, `/canary …` form and what it does, for `action`; every command's if unknown."""
    spec = _SPECS.get(action.casefold())
    return f"`{_form(spec)}` — {spec.summary}" if spec else help_text()


@lru_cache(maxsize=256)
def help_text(topic: str | None = None) -> str:
    """Every command a line (mrkdwn, code in backticks), or one command's form and details."""
    spec = _SPECS.get((topic or "").casefold())
    if spec:
        return "\n".join(line for line in (usage(spec.action), spec.details) if line)
    return "\n".join(["`/canary` runs canary releases:", *(usage(action) for action in _SPECS)])


def parse_command(text: str, *, services: Collection[str]) -> Command | CommandError:
    """Read the text of a `/canary` slash command against the configured `services`."""
    if len(text) > MAX_TEXT:
        message = f"that is {len(text):,} characters: a command has at most {MAX_TEXT:,}"
        return CommandError(message=message, usage=help_text())
    unwrapped = _unwrap(text)
    words = _words(unwrapped, unwrap=False)
    if not words:
        return Help()
    first = words[0].casefold()
    spec = _SPECS.get(first)
    if spec and spec.custom:
        after = re.sub(r"^\s*\S+", "", unwrapped, count=1)  # the text after the action's word
        return spec.custom(words[1:], after, services)
    if spec and not spec.takes_service:
        return _parse_args(spec, words[1:], service=None)
    if first in services:
        return _parse_action(first, words[1:])
    if spec:
        return _service_first(spec, words[1:])
    return _unknown_service(words, services)


def format_command(command: Command) -> str:
    """The text after `/canary` that `parse_command` reads back as `command` (for audit lines)."""
    spec = next(spec for spec in _SPECS.values() if spec.build is type(command))
    if spec.write is not None:
        return " ".join([spec.action, *spec.write(command)])
    words = [command.service if isinstance(command, ServiceCommand) else "", spec.action]
    for param in (*spec.positionals, *spec.options):
        value = getattr(command, param.name)
        if value is not None:
            shown = param.show(value)
            words.append(f"{param.name}={shown}" if param in spec.options else shown)
    words += [flag for flag in spec.flags if getattr(command, flag)]
    return " ".join(word for word in words if word)


def _unwrap(text: str) -> str:
    # Slack wraps what looks like a URL, host or address as <url|label> or <url>: keep what was
    # typed. Its escapes are undone after, so an escaped "&lt;" never starts a link.
    if "<" in text:  # most commands have no link: skip the pattern (on the ack's path)
        text = _SLACK_LINK.sub(lambda link: link[2] or link[1], text)
    if "&" not in text:
        return text
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _words(text: str, *, unwrap: bool = True) -> list[str]:
    text = _unwrap(text) if unwrap else text
    if "," in text:
        text = _COMMA.sub(",", text)  # "steps=10, 50" is one list
    return [word for word in (word.strip(_QUOTES) for word in text.split()) if word]


def _parse_action(service: str, words: list[str]) -> Command | CommandError:
    if not words:
        return Status(service=service)
    spec = _SPECS.get(words[0].casefold())
    if spec is None:
        hint = _hint(words[0].casefold(), _SERVICE_ACTIONS, f"use {_either(_SERVICE_ACTIONS)}")
        return CommandError(message=f"unknown action {words[0]!r}: {hint}", usage=help_text())
    if spec.custom is not None:  # freeze and unfreeze: their service is optional, so after
        fixed = " ".join(["/canary", spec.action, service, *words[1:]])
        return CommandError(message=f"put {spec.action} first: `{fixed}`", usage=usage(spec.action))
    if not spec.takes_service:
        message = f"'{spec.action}' takes no service: use `{_form(spec)}`"
        return CommandError(message=message, usage=usage(spec.action))
    return _parse_args(spec, words[1:], service=service)


def _parse_args(spec: _Spec, words: list[str], *, service: str | None) -> Command | CommandError:
    if words and not (spec.positionals or spec.options or spec.flags):
        return CommandError(message=f"'{spec.action}' takes no arguments", usage=usage(spec.action))
    values: dict[str, object] = {} if service is None else {"service": service}
    free = list(spec.positionals)
    rest = list(words)
    while rest:
        word = rest.pop(0)
        key, equals, raw = word.partition("=")
        if word.casefold() in spec.flags:
            problem = _take_flag(word.casefold(), values)
        elif equals:
            problem = _take_option(spec, key.casefold(), raw.strip(_QUOTES), values)
        elif free:
            param = free.pop(0)
            if (
                param.two_words
                and rest
                and "=" not in rest[0]
                and _reads(param, f"{word} {rest[0]}")
            ):
                word = f"{word} {rest.pop(0)}"
            problem = _take(param, word, values)
        else:
            problem = _unexpected(spec, word)
        if problem:
            return CommandError(message=problem, usage=usage(spec.action))
    for param in (*spec.positionals, *spec.options):
        if param.required and param.name not in values:
            message = f"{spec.action} needs {_shown(spec, param)}"
            return CommandError(message=message, usage=usage(spec.action))
    return spec.build(**values)


def _take_option(spec: _Spec, key: str, raw: str, values: dict[str, object]) -> str | None:
    param = next((p for p in spec.options if p.name == key), None)
    if param is None:
        keys = [f"{p.name}=" for p in spec.options]
        takes = (
            f"{spec.action} takes {_either(keys)}" if keys else f"'{spec.action}' takes no options"
        )
        return f"unknown option '{key}=': {_hint(key + '=', keys, takes)}"
    if param.name in values:
        return f"{key}= is given twice"
    if not raw:
        return f"{key}= has no value: write {key}={param.form}"
    return _take(param, raw, values)


def _take(param: _Param, raw: str, values: dict[str, object]) -> str | None:
    try:
        values[param.name] = param.parse(raw)
    except ValueError as err:  # BadImageError is one too
        return str(err)
    return None


def _take_flag(flag: str, values: dict[str, object]) -> str | None:
    if flag in values:
        return f"{flag} is given twice"
    values[flag] = True
    return None


def _reads(param: _Param, text: str) -> bool:
    try:
        param.parse(text)
    except ValueError:
        return False
    return True


def _unexpected(spec: _Spec, word: str) -> str:
    close = _closest(word.casefold(), spec.flags) if spec.flags else []
    if close:
        return f"unexpected {word!r}: did you mean {_either(close)}?"
    # A bare value where a required option belongs is almost always that option without its key.
    required = [p.name for p in spec.options if p.required and p.name]
    if required:
        return f"unexpected {word!r}: did you mean {required[0]}={word}?"
    if spec.flags and not (spec.positionals or spec.options):
        return f"unexpected {word!r}: {spec.action} takes only {_either(list(spec.flags))}"
    return f"unexpected {word!r} after {spec.action}"


def _service_first(spec: _Spec, words: list[str]) -> CommandError:
    # One order only: a command reads the same in every thread, help text and audit line.
    named = bool(words) and "=" not in words[0]
    service, rest = (words[0].casefold(), words[1:]) if named else ("SERVICE", words)
    fixed = " ".join(["/canary", service, spec.action, *rest])
    return CommandError(message=f"put the service first: `{fixed}`", usage=usage(spec.action))


def _not_a_service(word: str, services: Collection[str], form: str) -> CommandError:
    close = _closest(word, sorted(services))
    hint = f"did you mean {_either(close)}?" if close else "`/canary list` shows the services"
    return CommandError(message=f"unknown service {word!r}: {hint}", usage=form)


def _unknown_service(words: list[str], services: Collection[str]) -> CommandError:
    word, names = words[0].casefold(), sorted(services)
    form = usage(words[1]) if len(words) > 1 else help_text()
    close = _closest(word, names)
    actions = [] if close else _closest(word, _SPECS)
    if close:
        message = f"unknown service {word!r}: did you mean {_either(close)}?"
        return CommandError(message=message, usage=form)
    if actions:
        message = f"unknown command {words[0]!r}: did you mean {_either(actions)}?"
        return CommandError(message=message, usage=help_text())
    if not names:
        known = "no services are configured"
    elif len(names) <= _NAMED_SERVICES:
        known = f"the services are {', '.join(names)}"
    else:
        known = "`/canary list` shows them"
    return CommandError(message=f"unknown service {word!r}: {known}", usage=form)

"""Read the deployment files the way Docker and Compose do, closely enough to test them."""

from __future__ import annotations

import fnmatch
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / ".env.example"
MAKEFILE = ROOT / "Makefile"
OPERATING_DOC = ROOT / "docs" / "operating.md"

# ${VAR}, ${VAR:-default}, ${VAR-default}; `$$` is a literal dollar sign.
_INTERPOLATION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}")


def compose() -> dict[str, Any]:
    return cast(dict[str, Any], yaml.safe_load(COMPOSE_FILE.read_text()))


def compose_strings() -> str:
    """Every string value and key of the compose file (comments left out), one a line."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                found.append(str(key))
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, str):
            found.append(node)

    walk(compose())
    return "\n".join(found)


def interpolate(value: str, environ: dict[str, str]) -> str:
    """Compose's substitution of ${VAR:-default} and friends (no nesting: this file uses none)."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, default = match.group(1), match.group(2), match.group(3)
        current = environ.get(name)
        if operator == ":-" and not current:
            return default
        if operator == "-" and current is None:
            return default
        return current or ""

    return _INTERPOLATION.sub(substitute, value)


def interpolated_names(text: str) -> set[str]:
    return {match.group(1) for match in _INTERPOLATION.finditer(text) if match.group(1)}


def service_environment(service: dict[str, Any], environ: dict[str, str]) -> dict[str, str | None]:
    """The container environment compose would set; None marks a pass-through variable left unset."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, None) for item in raw)
    resolved: dict[str, str | None] = {}
    for name, value in raw.items():
        if value is None:
            resolved[name] = environ.get(name)
        else:
            resolved[name] = interpolate(str(value), environ)
    return resolved


def env_example_names() -> list[str]:
    """Every VAR in .env.example, commented out (`# VAR=…`) or set (`VAR=…`)."""
    pattern = re.compile(r"^#?\s?([A-Z][A-Z0-9_]*)=", re.MULTILINE)
    return pattern.findall(ENV_EXAMPLE.read_text())


def workspace_members() -> list[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(pyproject["tool"]["uv"]["workspace"]["members"])


def console_scripts() -> set[str]:
    scripts: set[str] = set()
    for member in workspace_members():
        project = tomllib.loads((ROOT / member / "pyproject.toml").read_text())["project"]
        scripts.update(project.get("scripts", {}))
    return scripts


# --- Dockerfile -------------------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str | None:
        found = self.all(keyword)
        return found[-1] if found else None


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    logical: list[str] = []
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    if current:
        logical.append(current)
    result = []
    for entry in logical:
        keyword, _, args = entry.partition(" ")
        result.append((keyword.upper(), args.strip()))
    return result


def dockerfile_stages() -> dict[str, Stage]:
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for keyword, args in dockerfile_instructions(DOCKERFILE.read_text()):
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else f"#{len(stages)}"
            current = Stage(name=name, base=words[0])
            stages[name] = current
        elif current is not None:
            current.instructions.append((keyword, args))
    return stages


def stage_chain(stages: dict[str, Stage], name: str) -> list[Stage]:
    """The stage and the stages it is built FROM, base first."""
    chain = [stages[name]]
    while chain[0].base in stages:
        chain.insert(0, stages[chain[0].base])
    return chain


def effective(stages: dict[str, Stage], name: str, keyword: str) -> str | None:
    """The value of USER/ENTRYPOINT/CMD/HEALTHCHECK/WORKDIR that a target image ends up with."""
    value = None
    for stage in stage_chain(stages, name):
        found = stage.last(keyword)
        if found is not None:
            value = found
    return value


def exec_form(args: str) -> list[str]:
    """A JSON exec-form argument list, or the shell words of a shell-form one."""
    args = args.strip()
    if args.startswith("["):
        return cast(list[str], yaml.safe_load(args))
    return shlex.split(args)


@dataclass(frozen=True)
class PipInstall:
    options: frozenset[str]
    requirement_files: tuple[str, ...]
    targets: tuple[str, ...]
    editable: bool


_PIP_VALUE_OPTIONS = {"-r", "--requirement", "-e", "--editable", "-c", "--constraint", "-i", "--index-url"}


def pip_installs(command_text: str) -> list[PipInstall]:
    """Every `pip install …` in shell text (Makefile recipes or Dockerfile RUN lines)."""
    installs = []
    for command in re.split(r"&&|;|\n", command_text):
        words = shlex.split(command.replace("\\\n", " "))
        if "pip" not in words or "install" not in words:
            continue
        words = words[words.index("install", words.index("pip")) + 1 :]
        options: set[str] = set()
        files: list[str] = []
        targets: list[str] = []
        editable = False
        iterator = iter(words)
        for word in iterator:
            if word in _PIP_VALUE_OPTIONS:
                value = next(iterator)
                if word in ("-r", "--requirement"):
                    files.append(value)
                elif word in ("-e", "--editable"):
                    editable = True
                    targets.append(value)
                else:
                    options.add(f"{word}={value}")
            elif word.startswith("-"):
                options.add(word)
            else:
                targets.append(word)
        installs.append(PipInstall(frozenset(options), tuple(files), tuple(targets), editable))
    return installs


def makefile_recipe(target_pattern: str) -> str:
    """The recipe lines of the first Makefile rule whose target matches the pattern, with variables kept."""
    lines = MAKEFILE.read_text().splitlines()
    for index, line in enumerate(lines):
        if re.match(target_pattern, line):
            recipe = []
            for body in lines[index + 1 :]:
                if not body.startswith("\t"):
                    break
                recipe.append(body.strip())
            return "\n".join(recipe).replace("\\\n", " ")
    raise AssertionError(f"no Makefile rule matches {target_pattern!r}")


def normalise_member(path: str) -> str:
    return path.removeprefix("./").rstrip("/")


# --- .dockerignore ----------------------------------------------------------------------------


def dockerignore_rules() -> list[tuple[bool, str]]:
    """(excludes, pattern) in file order; the last rule that matches a path decides."""
    rules = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.removeprefix("!").strip("/")
        rules.append((not negated, pattern))
    return rules


def _matches(pattern: str, path: str) -> bool:
    # A pattern matches a path or any of its parent folders (Docker excludes folders whole).
    parts = path.split("/")
    candidates = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    for candidate in candidates:
        if pattern.startswith("**/"):
            tail = pattern[3:]
            pieces = candidate.split("/")
            if any(fnmatch.fnmatchcase("/".join(pieces[start:]), tail) for start in range(len(pieces))):
                return True
        elif fnmatch.fnmatchcase(candidate, pattern) and candidate.count("/") == pattern.count("/"):
            return True
    return False


def is_ignored(path: str) -> bool:
    ignored = False
    for excludes, pattern in dockerignore_rules():
        if _matches(pattern, path):
            ignored = excludes
    return ignored

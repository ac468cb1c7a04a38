"""Find, import and order plugins.

A plugin reference (`ref`) is either the name of an installed plugin (an entry point in the
group `elizaos.plugins`, which this project and third-party packages declare in their
`pyproject.toml`) or an import reference `package.module:attr`, where `attr` is a `Plugin`
or a zero-argument callable returning one.

Resolved plugins are cached by reference: plugin objects are immutable, so a host starting
thousands of agents with the same plugins imports each of them once.
"""

from __future__ import annotations

import heapq
import importlib
import importlib.metadata
import re
import threading
from collections.abc import Callable, Sequence

from elizaos._plugin import Plugin

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginLoadError",
    "clear_cache",
    "installed_plugins",
    "load_order",
    "resolve",
]

ENTRY_POINT_GROUP = "elizaos.plugins"
"""The entry point group plugins are installed under (name -> `module:attr`)."""

_DOTTED = r"[^\W\d]\w*(?:\.[^\W\d]\w*)*"
# Entry point values may put spaces around the colon and end with "[extras]".
_IMPORT_REF = re.compile(rf"(?P<module>{_DOTTED})\s*:\s*(?P<attr>{_DOTTED})(?:\s*\[[^\]]*\])?")

_cache: dict[str, Plugin] = {}
_cache_lock = threading.Lock()


class PluginLoadError(Exception):
    """A plugin reference could not be turned into a `Plugin`; `ref` is the reference at fault."""

    def __init__(self, ref: str, message: str) -> None:
        super().__init__(f"cannot load plugin {ref!r}: {message}")
        self.ref = ref
        self.message = message

    def __reduce__(self) -> tuple[type[PluginLoadError], tuple[str, str]]:
        return type(self), (self.ref, self.message)


def installed_plugins() -> dict[str, str]:
    """Plugins installed through the `elizaos.plugins` entry point group: name -> `module:attr`.

    Nothing is imported. When two distributions declare the same name, the first one found
    on `sys.path` wins. Every copy of a distribution's metadata is read (not only the first,
    as `importlib.metadata.entry_points` does), so a stale `*.egg-info` left in the working
    directory cannot hide the plugins of the installed copy.
    """
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        for entry_point in dist.entry_points.select(group=ENTRY_POINT_GROUP):
            found.setdefault(entry_point.name, entry_point.value)
    return found


def clear_cache() -> None:
    """Forget every resolved plugin (the next `resolve` imports again; modules stay imported)."""
    with _cache_lock:
        _cache.clear()


def resolve(ref: str) -> Plugin:
    """The plugin an installed name or an import reference `package.module:attr` stands for.

    Raises `PluginLoadError` when the name is not installed, the module cannot be found,
    importing it raises, the attribute is missing, or the object is not a `Plugin` (and is
    not a zero-argument callable returning one). Successful results are cached.
    """
    cached = _cache.get(ref)
    if cached is not None:
        return cached
    if ":" in ref:
        target = ref
    else:
        installed = installed_plugins()
        if ref not in installed:
            names = ", ".join(sorted(installed)) or "none"
            raise PluginLoadError(
                ref, f"no installed plugin is named {ref!r} (installed: {names}); "
                     "install its package or use an import reference package.module:attr")
        target = installed[ref]
    plugin = _load(ref, target)
    with _cache_lock:
        return _cache.setdefault(ref, plugin)


def _load(ref: str, target: str) -> Plugin:
    match = _IMPORT_REF.fullmatch(target.strip())
    if match is None:
        raise PluginLoadError(ref, f"{target!r} is not a valid import reference (expected package.module:attr)")
    module_name, attr_path = match["module"], match["attr"]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise PluginLoadError(ref, f"module {module_name!r} is not installed (no module named {exc.name!r})"
                                  ) from exc
        raise PluginLoadError(ref, f"importing module {module_name!r} failed: {type(exc).__name__}: {exc}") from exc
    except (Exception, SystemExit) as exc:
        raise PluginLoadError(ref, f"importing module {module_name!r} failed: {type(exc).__name__}: {exc}") from exc
    obj: object = module
    walked = module_name
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PluginLoadError(ref, f"{walked!r} has no attribute {part!r}") from None
        walked += (":" if walked == module_name else ".") + part
    where = f"{module_name}:{attr_path}"
    if isinstance(obj, Plugin):
        plugin = obj
    elif callable(obj) and not isinstance(obj, type):
        try:
            made = obj()
        except Exception as exc:
            raise PluginLoadError(ref, f"calling {where}() failed: {type(exc).__name__}: {exc}") from exc
        if not isinstance(made, Plugin):
            raise PluginLoadError(ref, f"{where}() returned {type(made).__name__}, not a Plugin")
        plugin = made
    else:
        raise PluginLoadError(ref, f"{where} is {type(obj).__name__}, not a Plugin "
                                   "(or a zero-argument callable returning one)")
    if not plugin.name:
        raise PluginLoadError(ref, f"{where} is a Plugin without a name")
    return plugin


def load_order(refs: Sequence[str], resolve: Callable[[str], Plugin] = resolve) -> list[Plugin]:
    """Resolve `refs` and their dependencies (recursively) and return each plugin once, in load order.

    Dependencies (`Plugin.dependencies`, themselves references) come before the plugins that
    need them; among plugins whose dependencies are loaded, higher `priority` comes first,
    then the order in which they were given (dependencies count from where they were first
    met). Raises `PluginLoadError` for a reference that cannot be resolved, a missing
    dependency (naming the plugin that needs it), a dependency cycle (naming the path, e.g.
    "a -> b -> a"), or two different plugins with the same name.
    """
    by_ref: dict[str, Plugin] = {}
    plugins: dict[str, Plugin] = {}  # name -> plugin, in discovery order
    origin: dict[str, str] = {}  # name -> the reference it was first resolved from
    needs: dict[str, set[str]] = {}  # name -> names of its dependencies
    done: set[str] = set()

    def get(ref: str, needed_by: str | None) -> Plugin:
        plugin = by_ref.get(ref)
        if plugin is not None:
            return plugin
        try:
            plugin = resolve(ref)
        except PluginLoadError as exc:
            if needed_by is None:
                raise
            raise PluginLoadError(ref, f"plugin {needed_by!r} depends on it: {exc.message}") from exc
        except Exception as exc:
            why = f"{type(exc).__name__}: {exc}"
            raise PluginLoadError(ref, why if needed_by is None else f"plugin {needed_by!r} depends on it: {why}"
                                  ) from exc
        by_ref[ref] = plugin
        return plugin

    def visit(ref: str, path: list[str], needed_by: str | None) -> str:
        plugin = get(ref, needed_by)
        name = plugin.name
        known = plugins.get(name)
        if known is not None and known is not plugin and known != plugin:
            raise PluginLoadError(ref, f"it is a different plugin named {name!r} than the one "
                                       f"{origin[name]!r} gave; plugin names must be unique")
        if name in done:
            return name
        if name in path:
            cycle = [*path[path.index(name):], name]
            raise PluginLoadError(ref, "dependency cycle: " + " -> ".join(cycle))
        if known is None:
            plugins[name] = plugin
            origin[name] = ref
        path.append(name)
        needs[name] = {visit(dep, path, name) for dep in plugin.dependencies}
        path.pop()
        done.add(name)
        return name

    for ref in refs:
        visit(ref, [], None)

    # Kahn's algorithm; the heap picks the highest priority, then the earliest met.
    index = {name: i for i, name in enumerate(plugins)}
    waiting = {name: len(deps) for name, deps in needs.items()}
    dependents: dict[str, list[str]] = {name: [] for name in plugins}
    for name, deps in needs.items():
        for dep in deps:
            dependents[dep].append(name)
    ready = [(-plugins[name].priority, index[name], name) for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    ordered: list[Plugin] = []
    while ready:
        _, _, name = heapq.heappop(ready)
        ordered.append(plugins[name])
        for dependent in dependents[name]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, (-plugins[dependent].priority, index[dependent], dependent))
    return ordered

"""agenthost.plugins.loader: installed plugins, resolving references, load order, caching."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import agenthost.plugins.calculator
import agenthost.plugins.facts
import agenthost.plugins.time
from agenthost.plugins import loader
from agenthost.plugins.loader import PluginLoadError, installed_plugins, load_order, resolve
from elizaos import Plugin

# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, str], None]]:
    """Write importable modules into a temp dir on sys.path; forgotten (and the cache cleared) afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[str] = []

    def write(name: str, source: str) -> None:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        written.append(name)
        importlib.invalidate_caches()

    loader.clear_cache()
    yield write
    loader.clear_cache()
    for name in written:
        sys.modules.pop(name, None)


@pytest.fixture
def dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, dict[str, str]], None]:
    """Install a fake distribution (metadata only) declaring entry points in `elizaos.plugins`."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def install(name: str, entry_points: dict[str, str]) -> None:
        info = site / f"{name}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n", encoding="utf-8")
        lines = "".join(f"{key} = {value}\n" for key, value in entry_points.items())
        (info / "entry_points.txt").write_text(f"[elizaos.plugins]\n{lines}", encoding="utf-8")
        importlib.invalidate_caches()

    return install


def load_error(ref: str) -> PluginLoadError:
    with pytest.raises(PluginLoadError) as caught:
        resolve(ref)
    assert caught.value.ref == ref
    return caught.value


class FakeResolver:
    """A `resolve` over a fixed set of plugins, counting calls; unknown refs are missing."""

    def __init__(self, *plugins: Plugin, aliases: dict[str, Plugin] | None = None) -> None:
        self.plugins = {p.name: p for p in plugins} | (aliases or {})
        self.calls: list[str] = []

    def __call__(self, ref: str) -> Plugin:
        self.calls.append(ref)
        if ref not in self.plugins:
            raise PluginLoadError(ref, f"no installed plugin is named {ref!r}")
        return self.plugins[ref]


def names(plugins: list[Plugin]) -> list[str]:
    return [p.name for p in plugins]


# --- installed_plugins -----------------------------------------------------------------------


def test_installed_plugins_lists_the_shipped_plugins_and_the_greeter_package() -> None:
    installed = installed_plugins()
    assert installed["time"] == "agenthost.plugins.time:plugin"
    assert installed["calculator"] == "agenthost.plugins.calculator:plugin"
    assert installed["facts"] == "agenthost.plugins.facts:plugin"
    assert installed["greeter"] == "elizaos_plugin_greeter:plugin"


def test_installed_plugins_does_not_import_them(dist: Callable[[str, dict[str, str]], None]) -> None:
    dist("explodes", {"explodes": "explodes_on_import_xyz:plugin"})
    assert installed_plugins()["explodes"] == "explodes_on_import_xyz:plugin"
    assert "explodes_on_import_xyz" not in sys.modules


# --- resolve ---------------------------------------------------------------------------------


def test_resolve_by_installed_name_gives_the_module_plugin() -> None:
    assert resolve("time") is agenthost.plugins.time.plugin
    assert resolve("calculator") is agenthost.plugins.calculator.plugin
    assert resolve("facts") is agenthost.plugins.facts.plugin
    greeter = resolve("greeter")
    assert greeter.name == "greeter"
    assert tuple(greeter.dependencies) == ("facts",)


def test_resolve_by_import_reference() -> None:
    assert resolve("agenthost.plugins.calculator:plugin") is agenthost.plugins.calculator.plugin
    assert resolve("elizaos_plugin_greeter:plugin") is resolve("greeter")


def test_resolve_calls_a_zero_argument_factory(modules: Callable[[str, str], None]) -> None:
    modules("factory_mod_a", """
        from elizaos import Plugin

        def make():
            return Plugin(name="made", description="Made by a factory.")
    """)
    plugin = resolve("factory_mod_a:make")
    assert plugin.name == "made"
    assert resolve("factory_mod_a:make") is plugin


def test_resolve_follows_a_dotted_attribute(modules: Callable[[str, str], None]) -> None:
    modules("dotted_mod_a", """
        from elizaos import Plugin

        class Holder:
            plugin = Plugin(name="held")
    """)
    assert resolve("dotted_mod_a:Holder.plugin").name == "held"


def test_resolve_through_a_third_party_entry_point(
    modules: Callable[[str, str], None], dist: Callable[[str, dict[str, str]], None]
) -> None:
    modules("third_party_mod_a", "from elizaos import Plugin\nplugin = Plugin(name='thirdparty')\n")
    dist("third-party", {"thirdparty": "third_party_mod_a:plugin"})
    assert resolve("thirdparty").name == "thirdparty"


def test_unknown_name_is_not_installed() -> None:
    error = load_error("no-such-plugin")
    assert str(error).startswith(
        "cannot load plugin 'no-such-plugin': no installed plugin is named 'no-such-plugin' (installed: ")
    assert "calculator, facts, greeter" in str(error)
    assert str(error).endswith("install its package or use an import reference package.module:attr")
    assert error.message.startswith("no installed plugin is named 'no-such-plugin'")


def test_missing_module_is_named() -> None:
    error = load_error("no_such_module_xyz:plugin")
    assert str(error) == ("cannot load plugin 'no_such_module_xyz:plugin': module 'no_such_module_xyz' is not "
                          "installed (no module named 'no_such_module_xyz')")


def test_missing_submodule_is_named() -> None:
    error = load_error("agenthost.plugins.nope:plugin")
    assert error.message == ("module 'agenthost.plugins.nope' is not installed "
                             "(no module named 'agenthost.plugins.nope')")


def test_module_whose_import_raises(modules: Callable[[str, str], None]) -> None:
    modules("raising_mod_a", "raise RuntimeError('database is down')\n")
    error = load_error("raising_mod_a:plugin")
    assert error.message == "importing module 'raising_mod_a' failed: RuntimeError: database is down"
    assert isinstance(error.__cause__, RuntimeError)


def test_module_with_a_missing_import_is_not_reported_as_missing_itself(modules: Callable[[str, str], None]) -> None:
    modules("needs_dep_mod_a", "import some_missing_dependency_xyz\n")
    error = load_error("needs_dep_mod_a:plugin")
    assert error.message == ("importing module 'needs_dep_mod_a' failed: ModuleNotFoundError: "
                             "No module named 'some_missing_dependency_xyz'")


def test_module_calling_sys_exit_does_not_stop_the_host(modules: Callable[[str, str], None]) -> None:
    modules("exiting_mod_a", "import sys\nsys.exit(3)\n")
    assert load_error("exiting_mod_a:plugin").message == "importing module 'exiting_mod_a' failed: SystemExit: 3"


def test_broken_entry_point_names_its_module(
    modules: Callable[[str, str], None], dist: Callable[[str, dict[str, str]], None]
) -> None:
    modules("broken_ep_mod_a", "raise ImportError('cannot import name x')\n")
    dist("broken", {"broken": "broken_ep_mod_a:plugin"})
    error = load_error("broken")
    assert str(error) == ("cannot load plugin 'broken': importing module 'broken_ep_mod_a' failed: "
                          "ImportError: cannot import name x")


def test_missing_attribute() -> None:
    assert load_error("agenthost.plugins.time:nope").message == "'agenthost.plugins.time' has no attribute 'nope'"
    assert load_error("agenthost.plugins.time:plugin.nope").message == (
        "'agenthost.plugins.time:plugin' has no attribute 'nope'")


def test_object_that_is_not_a_plugin() -> None:
    assert load_error("agenthost.plugins.time:__all__").message == (
        "agenthost.plugins.time:__all__ is list, not a Plugin (or a zero-argument callable returning one)")
    assert load_error("elizaos:Plugin").message == (
        "elizaos:Plugin is type, not a Plugin (or a zero-argument callable returning one)")


def test_factory_returning_something_else() -> None:
    assert load_error("agenthost.plugins.time:system_clock").message == (
        "agenthost.plugins.time:system_clock() returned datetime, not a Plugin")


def test_factory_that_raises() -> None:
    error = load_error("agenthost.plugins.facts:fact_key")
    assert error.message == ("calling agenthost.plugins.facts:fact_key() failed: TypeError: fact_key() missing 2 "
                             "required positional arguments: 'entity_id' and 'key'")


def test_plugin_without_a_name(modules: Callable[[str, str], None]) -> None:
    modules("nameless_mod_a", "from elizaos import Plugin\nplugin = Plugin(name='')\n")
    assert load_error("nameless_mod_a:plugin").message == "nameless_mod_a:plugin is a Plugin without a name"


@pytest.mark.parametrize("ref", ["pkg:", ":plugin", "a b:c", "pkg:1x", "..rel:plugin", "pkg::plugin"])
def test_malformed_import_reference(ref: str) -> None:
    assert load_error(ref).message == f"{ref!r} is not a valid import reference (expected package.module:attr)"


def test_error_is_an_exception_with_the_ref() -> None:
    error = PluginLoadError("x", "why")
    assert isinstance(error, Exception)
    assert (error.ref, error.message, str(error)) == ("x", "why", "cannot load plugin 'x': why")


def test_failures_are_not_cached(modules: Callable[[str, str], None]) -> None:
    load_error("late_mod_a:plugin")
    modules("late_mod_a", "from elizaos import Plugin\nplugin = Plugin(name='late')\n")
    assert resolve("late_mod_a:plugin").name == "late"


# --- caching ---------------------------------------------------------------------------------


def test_resolved_plugins_are_cached(modules: Callable[[str, str], None]) -> None:
    modules("counted_mod_a", """
        from elizaos import Plugin

        CALLS = []

        def make():
            CALLS.append(1)
            return Plugin(name="counted")
    """)
    first = resolve("counted_mod_a:make")
    for _ in range(10_000):
        assert load_order(["counted_mod_a:make", "time"])[0] is first
    counted = sys.modules["counted_mod_a"]
    assert counted.CALLS == [1]
    loader.clear_cache()
    resolve("counted_mod_a:make")
    assert counted.CALLS == [1, 1]


def test_cache_hits_do_not_touch_importlib(monkeypatch: pytest.MonkeyPatch) -> None:
    resolve("greeter")
    resolve("agenthost.plugins.time:plugin")

    def fail(*args: object, **kwargs: object) -> object:
        raise AssertionError("resolved again")

    monkeypatch.setattr(importlib, "import_module", fail)
    monkeypatch.setattr(loader, "installed_plugins", fail)
    assert resolve("greeter").name == "greeter"
    assert resolve("agenthost.plugins.time:plugin").name == "time"


# --- load_order ------------------------------------------------------------------------------


def test_load_order_of_installed_plugins_puts_dependencies_first() -> None:
    assert names(load_order(["greeter"])) == ["facts", "greeter"]
    assert names(load_order(["greeter", "time", "facts"])) == ["facts", "greeter", "time"]
    assert names(load_order(["time", "greeter", "calculator"])) == ["time", "facts", "greeter", "calculator"]


def test_the_same_plugin_through_different_refs_loads_once() -> None:
    plugins = load_order(["facts", "agenthost.plugins.facts:plugin", "greeter"])
    assert names(plugins) == ["facts", "greeter"]


def test_empty() -> None:
    assert load_order([]) == []


def test_chain() -> None:
    fake = FakeResolver(Plugin("a", dependencies=("b",)), Plugin("b", dependencies=("c",)), Plugin("c"))
    assert names(load_order(["a"], resolve=fake)) == ["c", "b", "a"]


def test_diamond_loads_each_plugin_once_and_resolves_each_ref_once() -> None:
    fake = FakeResolver(Plugin("a", dependencies=("b", "c")), Plugin("b", dependencies=("d",)),
                        Plugin("c", dependencies=("d",)), Plugin("d"))
    assert names(load_order(["a", "d", "b"], resolve=fake)) == ["d", "b", "c", "a"]
    assert sorted(fake.calls) == ["a", "b", "c", "d"]


def test_given_order_breaks_ties_and_dependencies_sit_where_first_met() -> None:
    fake = FakeResolver(Plugin("a", dependencies=("c",)), Plugin("b"), Plugin("c"), Plugin("d"))
    assert names(load_order(["a", "b"], resolve=fake)) == ["c", "a", "b"]
    assert names(load_order(["b", "a"], resolve=fake)) == ["b", "c", "a"]
    assert names(load_order(["d", "b", "c"], resolve=fake)) == ["d", "b", "c"]
    assert names(load_order(["c", "b", "d"], resolve=fake)) == ["c", "b", "d"]


def test_higher_priority_first_among_ready_plugins() -> None:
    fake = FakeResolver(Plugin("low", priority=-1), Plugin("mid"), Plugin("high", priority=5),
                        Plugin("top", priority=9))
    assert names(load_order(["low", "mid", "high"], resolve=fake)) == ["high", "mid", "low"]
    assert names(load_order(["mid", "top", "low", "high"], resolve=fake)) == ["top", "high", "mid", "low"]


def test_dependencies_come_before_priority() -> None:
    fake = FakeResolver(Plugin("app", priority=10, dependencies=("base",)), Plugin("base", priority=-5),
                        Plugin("other", priority=3))
    assert names(load_order(["other", "app"], resolve=fake)) == ["other", "base", "app"]
    assert names(load_order(["app", "other"], resolve=fake)) == ["other", "base", "app"]


def test_load_order_is_deterministic() -> None:
    plugins = [Plugin(f"p{i}", priority=i % 3, dependencies=tuple(f"p{j}" for j in range(i) if (i * j) % 5 == 1))
               for i in range(30)]
    fake = FakeResolver(*plugins)
    refs = [f"p{i}" for i in reversed(range(30))]
    first = names(load_order(refs, resolve=fake))
    assert sorted(first) == sorted(p.name for p in plugins)
    for _ in range(5):
        assert names(load_order(refs, resolve=fake)) == first
    position = {name: i for i, name in enumerate(first)}
    for plugin in plugins:
        for dep in plugin.dependencies:
            assert position[dep] < position[plugin.name]


def test_dependency_given_as_import_reference() -> None:
    app = Plugin("app", dependencies=("agenthost.plugins.time:plugin",))
    fake = FakeResolver(app, aliases={"agenthost.plugins.time:plugin": agenthost.plugins.time.plugin})
    assert load_order(["app"], resolve=fake) == [agenthost.plugins.time.plugin, app]


def test_cycle_names_its_path() -> None:
    fake = FakeResolver(Plugin("a", dependencies=("b",)), Plugin("b", dependencies=("a",)))
    with pytest.raises(PluginLoadError) as caught:
        load_order(["a"], resolve=fake)
    assert str(caught.value) == "cannot load plugin 'a': dependency cycle: a -> b -> a"


def test_longer_cycle_reached_through_another_plugin() -> None:
    fake = FakeResolver(Plugin("x", dependencies=("a",)), Plugin("a", dependencies=("b",)),
                        Plugin("b", dependencies=("c",)), Plugin("c", dependencies=("a",)))
    with pytest.raises(PluginLoadError) as caught:
        load_order(["x"], resolve=fake)
    assert caught.value.message == "dependency cycle: a -> b -> c -> a"


def test_self_dependency_is_a_cycle() -> None:
    with pytest.raises(PluginLoadError, match=r"^cannot load plugin 'a': dependency cycle: a -> a$"):
        load_order(["a"], resolve=FakeResolver(Plugin("a", dependencies=("a",))))


def test_missing_dependency_names_who_needs_it() -> None:
    fake = FakeResolver(Plugin("app", dependencies=("base",)), Plugin("base", dependencies=("ghost",)))
    with pytest.raises(PluginLoadError) as caught:
        load_order(["app"], resolve=fake)
    assert caught.value.ref == "ghost"
    assert str(caught.value) == ("cannot load plugin 'ghost': plugin 'base' depends on it: "
                                 "no installed plugin is named 'ghost'")


def test_missing_dependency_of_an_installed_plugin() -> None:
    fake = FakeResolver(Plugin("greeter", dependencies=("facts",)))
    with pytest.raises(PluginLoadError, match=r"^cannot load plugin 'facts': plugin 'greeter' depends on it"):
        load_order(["greeter"], resolve=fake)


def test_missing_top_level_plugin_is_reported_as_is() -> None:
    with pytest.raises(PluginLoadError) as caught:
        load_order(["ghost"], resolve=FakeResolver())
    assert str(caught.value) == "cannot load plugin 'ghost': no installed plugin is named 'ghost'"


def test_resolver_raising_something_else_becomes_a_load_error() -> None:
    def broken(ref: str) -> Plugin:
        if ref == "app":
            return Plugin("app", dependencies=("dep",))
        raise KeyError(ref)

    with pytest.raises(PluginLoadError) as caught:
        load_order(["app"], resolve=broken)
    assert str(caught.value) == "cannot load plugin 'dep': plugin 'app' depends on it: KeyError: 'dep'"
    with pytest.raises(PluginLoadError, match=r"^cannot load plugin 'dep': KeyError: 'dep'$"):
        load_order(["dep"], resolve=broken)


def test_two_different_plugins_with_one_name_are_refused() -> None:
    fake = FakeResolver(aliases={"one": Plugin("same", description="One."), "two": Plugin("same", description="Two.")})
    with pytest.raises(PluginLoadError) as caught:
        load_order(["one", "two"], resolve=fake)
    assert caught.value.ref == "two"
    assert caught.value.message == ("it is a different plugin named 'same' than the one 'one' gave; "
                                    "plugin names must be unique")


def test_equal_plugins_under_two_refs_are_one() -> None:
    fake = FakeResolver(aliases={"one": Plugin("same"), "two": Plugin("same")})
    assert names(load_order(["one", "two"], resolve=fake)) == ["same"]

"""The package has one public face: ``cachework/__init__.py`` (and ``schema``, the tables)."""

from __future__ import annotations

import importlib
import pkgutil

from conftest import run_script

import cachework


def test_every_public_name_is_there_and_shows_its_public_path():
    for name in cachework.__all__:
        obj = getattr(cachework, name)
        if isinstance(obj, type) or callable(obj):
            assert obj.__module__ == "cachework", name
    assert len(set(cachework.__all__)) == len(cachework.__all__)


def test_every_module_but_schema_is_private():
    modules = {m.name for m in pkgutil.iter_modules(cachework.__path__)}
    public = {m for m in modules if not m.startswith("_")}  # __main__ is python -m's
    assert public == {"schema"}, public


def test_each_private_modules_all_names_what_it_defines():
    for info in pkgutil.iter_modules(cachework.__path__):
        if info.name == "__main__":  # importing it runs the command
            continue
        module = importlib.import_module(f"cachework.{info.name}")
        for name in getattr(module, "__all__", ()):
            assert hasattr(module, name), f"cachework.{info.name}.__all__ names {name!r}"


def test_what_the_package_re_exports_comes_from_the_private_modules():
    from cachework import _errors, _keys, _periods, _store, _work

    for module in (_errors, _keys, _periods, _store, _work):
        for name in getattr(module, "__all__", ()):
            if name in cachework.__all__:
                assert getattr(cachework, name) is getattr(module, name), name


def test_names_loaded_at_first_use_are_there_as_any_other():
    """``Period``, ``period_label``, ``BackfillReport`` and ``CalendarRow`` come from modules
    a plain work never needs, imported when first asked for: in a new process, so that
    nothing has loaded them yet."""
    out = run_script(
        """
        import sys, cachework
        lazy = ("Period", "period_label", "BackfillReport", "CalendarRow")
        assert set(lazy) <= set(dir(cachework)), dir(cachework)
        assert not any(name in vars(cachework) for name in lazy)
        from cachework import BackfillReport, CalendarRow, Period, period_label
        assert cachework.Period is sys.modules["cachework._periods"].Period
        assert period_label.__module__ == "cachework"
        space = {}
        exec("from cachework import *", space)
        assert all(space[name] is getattr(cachework, name) for name in cachework.__all__)
        try:
            cachework.Periods
        except AttributeError as e:
            print(e)
        """
    ).stdout.strip()
    assert out == "module 'cachework' has no attribute 'Periods'"


def test_a_generic_public_class_subscripts_at_run_time():
    """``CachedFunction[[str], int]`` in an annotation something evaluates (the package's
    generic classes take ``Generic`` from ``_typing``, which imports no ``typing``)."""
    import typing

    from cachework._options import option

    alias = cachework.CachedFunction[[str], int]
    assert typing.get_origin(alias) is cachework.CachedFunction
    assert typing.get_origin(option[int]) is option
    assert isinstance(cachework.work(lambda: 1, name="f"), cachework.CachedFunction)

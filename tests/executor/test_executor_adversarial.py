"""Hostile code: every known family of escapes from Python sandboxes must fail, loudly.

Each case is a block a prompt-injected model could write. Its payload, had the escape worked,
would create the sentinel file (via ``open`` or a shell). Every case must end with an error,
leave no sentinel, leave ``os.environ``/cwd/threads/child processes as they were, and leave
the executor working.
"""

from __future__ import annotations

import os
import sys

import pytest
from sandbox_testkit import HostSnapshot, ToolLog

from iisearch_local.executor import RestrictedExecutor

# The payload that would create the sentinel if the chain before it reached the host.
TOUCH = "os.system('touch ' + S)"

CASES = [
    # --- dunder walks to builtins / subclasses / globals --------------------------------
    # Walk from a tuple to object's subclasses, looking for Popen.
    ("tuple_subclasses", "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'Popen'][0](['touch', S])"),
    # Same walk from a str via __mro__.
    ("str_mro", "''.__class__.__mro__[1].__subclasses__()"),
    # __bases__ from a list literal.
    ("list_bases", "[].__class__.__bases__[0].__subclasses__()"),
    # A lambda's __globals__ to reach the real builtins.
    ("lambda_globals", "(lambda: 0).__globals__['__builtins__']['open'](S, 'w')"),
    # A lambda's code object.
    ("lambda_code", "c = (lambda: 0).__code__\nprint(c.co_consts)"),
    # A def'd function's globals.
    ("function_globals", "def f():\n    pass\nf.__globals__['__builtins__']"),
    # print.__self__ is the real builtins module.
    ("builtin_self", "print.__self__.open(S, 'w')"),
    # The tool function's own globals (host module).
    ("tool_globals", "web_search.__globals__['os'].system('touch ' + S)"),
    # The tool proxy's private reference to the host function.
    ("tool_private", "web_search._fn.__globals__"),
    # len.__self__ / sorted.__self__ (builtins module again).
    ("len_self", "len.__self__.__import__('os').system('touch ' + S)"),
    # The name __builtins__ itself.
    ("builtins_name", "__builtins__['open'](S, 'w')"),
    # __import__ as a function.
    ("dunder_import", "__import__('os').system('touch ' + S)"),
    # object.__subclasses__ directly.
    ("object_subclasses", "object.__subclasses__()"),
    # type.__subclasses__ unbound.
    ("type_subclasses", "type.__subclasses__(object)"),
    # mro() (not a dunder) on a class.
    ("int_mro", "int.mro()[1].__subclasses__()"),
    # A class's __dict__ (mappingproxy of real functions).
    ("class_dict", "str.__dict__['join']"),
    # An instance __dict__ of a sandbox class, then its class.
    ("instance_dict", "class A:\n    pass\nA().__dict__"),
    # __class__ of an exception instance.
    ("exception_class", "try:\n    1/0\nexcept Exception as e:\n    e.__class__.__subclasses__()"),
    # --- imports --------------------------------------------------------------------------
    # Plain import of os.
    ("import_os", "import os\n" + TOUCH),
    # from-import of os.system.
    ("from_os", "from os import system\nsystem('touch ' + S)"),
    # subprocess.
    ("import_subprocess", "import subprocess\nsubprocess.run(['touch', S])"),
    # importlib to import anything.
    ("import_importlib", "import importlib\nimportlib.import_module('os').system('touch ' + S)"),
    # The builtins module.
    ("import_builtins", "import builtins\nbuiltins.open(S, 'w')"),
    # sys.modules.
    ("import_sys", "import sys\nsys.modules['os'].system('touch ' + S)"),
    # ctypes (smolagents escape).
    ("import_ctypes", "import ctypes\nctypes.CDLL(None).system(('touch ' + S).encode())"),
    # pickle / marshal for code execution.
    ("import_pickle", "import pickle\npickle.loads(b'cos\\nsystem\\n(Vtouch x\\ntR.')"),
    # threading / _thread to escape the worker.
    ("import_threading", "import threading\nthreading.Thread(target=print).start()"),
    # urllib.request for network access.
    ("import_urllib_request", "import urllib.request\nurllib.request.urlopen('http://127.0.0.1:1')"),
    # from urllib import request.
    ("from_urllib_request", "from urllib import request"),
    # A module's submodule that re-exports host modules.
    ("json_decoder", "import json.decoder"),
    # from json import an internal module.
    ("from_json_internal", "from json import decoder"),
    # Relative import.
    ("relative_import", "from . import executor"),
    # --- modules re-exporting os/sys, and module internals ---------------------------------
    # random's private os reference.
    ("random_os", "import random\nrandom._os.system('touch ' + S)"),
    # json's codecs re-export.
    ("json_codecs", "import json\njson.codecs"),
    # datetime's sys.
    ("datetime_sys", "import datetime\ndatetime.sys"),
    # collections internals.
    ("collections_sys", "import collections\ncollections._sys"),
    # re internals (compile cache, copyreg).
    ("re_internals", "import re\nre._compile"),
    # A module's __loader__ / __spec__.
    ("module_loader", "import math\nmath.__loader__"),
    # A module proxy's member table.
    ("module_members", "import json\njson._members"),
    # A module's __dict__.
    ("module_dict", "import json\njson.__dict__"),
    # time.sleep's __self__ (the real time module).
    ("time_self", "import time\ntime.sleep.__self__"),
    # --- forbidden builtins ---------------------------------------------------------------
    # open for writing.
    ("open", "open(S, 'w').write('x')"),
    # eval.
    ("eval", "eval(\"__import__('os').system('touch ' + S)\")"),
    # exec.
    ("exec", "exec(\"open(S, 'w')\")"),
    # compile + exec of a code object.
    ("compile", "c = compile('1', 'x', 'eval')"),
    # globals() to reach our namespace.
    ("globals", "globals()['__builtins__']"),
    # vars() of an object.
    ("vars", "vars(print)"),
    # breakpoint / input / help.
    ("breakpoint", "breakpoint()"),
    # memoryview of bytes.
    ("memoryview", "memoryview(b'abc')"),
    # print(file=...) to a host stream.
    ("print_file", "print('x', file=S)"),
    # --- dynamic attribute names ----------------------------------------------------------
    # getattr with a built dunder string.
    ("getattr_built", "getattr((), '__cl' + 'ass__').__base__"),
    # getattr with chr() codes.
    ("getattr_chr", "getattr(1, ''.join(map(chr, [95, 95, 99, 108, 97, 115, 115, 95, 95])))"),
    # getattr with a fullwidth look-alike that NFKC-normalises to __class__.
    ("getattr_nfkc", "getattr(1, '__\\uff43lass__')"),
    # A look-alike identifier in source: the parser normalises it to __class__.
    ("identifier_nfkc", "(1).__\uff43lass__"),
    # A look-alike spelling of eval as a name.
    ("eval_nfkc", "\uff45val('1')"),
    # hasattr probing a dunder.
    ("hasattr_dunder", "hasattr(1, '__class__')"),
    # A str subclass (mutable __eq__/__hash__) as attribute name: base str not allowed.
    ("str_subclass_name", "class N(str):\n    pass\ngetattr(1, N('x'))"),
    # A non-str object as attribute name.
    ("object_name", "class N:\n    def __eq__(self, o):\n        return True\ngetattr(1, N())"),
    # setattr of a dunder on a sandbox class (time bomb).
    ("setattr_del", "class A:\n    pass\nsetattr(A, '__del__', lambda self: None)"),
    # Attribute assignment of a dunder.
    ("assign_del", "class A:\n    pass\nA.__del__ = lambda self: None"),
    # Setting attributes on a host object.
    ("setattr_host", "import json\njson.dumps = print"),
    # --- format strings -------------------------------------------------------------------
    # str.format field path to __class__.
    ("format_class", "print('{0.__class__.__mro__}'.format(1))"),
    # str.format to a function's globals.
    ("format_globals", "def f():\n    pass\nprint('{0.__globals__}'.format(f))"),
    # format_map with a dunder path.
    ("format_map", "print('{x.__class__}'.format_map({'x': 1}))"),
    # Unbound str.format.
    ("format_unbound", "print(str.format('{0.__class__}', 1))"),
    # An f-string reaching a dunder.
    ("fstring_dunder", "print(f'{(1).__class__}')"),
    # A generator frame through a format field.
    ("format_gi_frame", "g = (x for x in [1])\nprint('{0.gi_frame}'.format(g))"),
    # --- operator / functools helpers -----------------------------------------------------
    # operator.attrgetter with a dunder path.
    ("attrgetter", "import operator\noperator.attrgetter('__class__.__mro__')(1)"),
    # operator.methodcaller calling __subclasses__.
    ("methodcaller", "import operator\noperator.methodcaller('__subclasses__')(object)"),
    # functools.partial over getattr.
    ("partial_getattr", "import functools\nfunctools.partial(getattr, ())('__class__')"),
    # functools.reduce over getattr with a path.
    ("reduce_getattr", "import functools\nfunctools.reduce(getattr, ['__class__', '__base__'], ())"),
    # --- classes, metaclasses, type() -------------------------------------------------------
    # type() with three arguments and a __del__ time bomb.
    ("type3", "X = type('X', (), {'__del__': lambda self: print('boom')})"),
    # type() with three arguments called from C through map().
    ("map_type3", "list(map(type, ['X'], [()], [{'__del__': print}]))"),
    # staticmethod(type) called directly.
    ("staticmethod_type", "staticmethod(type)('X', (), {})"),
    # functools.partial(type, ...) completing the three-argument call later.
    ("partial_type3", "import functools\nfunctools.partial(type, 'X', ())({})"),
    # defaultdict whose factory is a forbidden class (called later from C).
    ("defaultdict_factory", "import collections\nf = lambda: 0\nd = collections.defaultdict(type(f))\nd['x']"),
    # A metaclass derived from type.
    ("metaclass_base", "class M(type):\n    pass"),
    # The metaclass keyword.
    ("metaclass_kw", "class A(metaclass=type):\n    pass"),
    # A class defining __del__.
    ("class_del", "class A:\n    def __del__(self):\n        print('boom')\na = A()"),
    # A class defining __getattribute__.
    ("class_getattribute", "class A:\n    def __getattribute__(self, n):\n        return 1"),
    # A class defining __init_subclass__.
    ("class_init_subclass", "class A:\n    def __init_subclass__(cls):\n        pass"),
    # A class defining __reduce__ (copy/pickle hook).
    ("class_reduce", "class A:\n    def __reduce__(self):\n        return (print, ('x',))\nimport copy\ncopy.deepcopy(A())"),
    # A class defining __set_name__ via a class attribute.
    ("class_set_name", "class D:\n    def __set_name__(self, owner, name):\n        pass"),
    # A class defining __class_getitem__.
    ("class_getitem", "class A:\n    def __class_getitem__(cls, item):\n        return 1"),
    # Subclassing a host class (str) to smuggle dunders.
    ("subclass_str", "class S(str):\n    pass"),
    # Subclassing a module class.
    ("subclass_counter", "from collections import Counter\nclass C(Counter):\n    pass"),
    # __slots__ manipulation.
    ("class_slots", "class A:\n    __slots__ = ('x',)"),
    # Calling the sandbox-function class to forge a function.
    ("forge_function", "f = lambda: 0\ntype(f)(None, (), {}, None, None)"),
    # Calling the module-proxy class to forge a module.
    ("forge_module", "import json\ntype(json)('os', {})"),
    # Calling the tool-proxy class with another function.
    ("forge_tool", "type(web_search)('x', print, None)"),
    # super() with a host class.
    ("super_host", "super(int, 1).__class__"),
    # --- generators, frames, tracebacks ----------------------------------------------------
    # A generator's frame globals.
    ("gi_frame", "g = (x for x in [1])\ng.gi_frame.f_globals"),
    # gi_frame through getattr with a built name.
    ("gi_frame_getattr", "g = (x for x in [1])\ngetattr(g, 'gi_' + 'frame')"),
    # A generator's code object.
    ("gi_code", "g = (x for x in [1])\ng.gi_code"),
    # Generator functions (a route to real frames) are not supported at all.
    ("yield", "def g():\n    yield 1\nprint(list(g()))"),
    # A traceback's frame.
    ("traceback_frame", "try:\n    1/0\nexcept Exception as e:\n    e.__traceback__.tb_frame.f_back.f_globals"),
    # with_traceback on an exception.
    ("with_traceback", "try:\n    1/0\nexcept Exception as e:\n    e.with_traceback(None)"),
    # An exception's __context__ chain.
    ("exception_context", "try:\n    1/0\nexcept Exception as e:\n    e.__context__"),
    # A failing tool: its exception must not carry host objects.
    ("tool_exception", "try:\n    web_search(1, 2, 3, 4, 5, 6)\nexcept Exception as e:\n    print(e.__cause__)"),
    # The tool proxy's private slot on its own.
    ("tool_private_slot", "f = web_search._fn"),
    # The checked join method's private slot on its own.
    ("safe_method_slot", "f = ''.join._fn"),
    # AttributeError.obj can carry an object host library code was handling.
    ("attribute_error_obj", "try:\n    (1).nothing\nexcept AttributeError as e:\n    print(e.obj)"),
    # The SafeMethod wrapper's wrapped function.
    ("safe_method_private", "''.join._fn.__globals__"),
    # A metered iterator's inner iterator.
    ("counting_private", "import itertools\nitertools.count()._it"),
    # --- interpreter internals -----------------------------------------------------------------
    # Looking for our own interpreter objects through a function's attributes.
    ("function_spec", "def f():\n    pass\nf._spec.body"),
    # A method's __func__ / __self__.
    ("method_func", "class A:\n    def m(self):\n        pass\nA().m.__func__"),
    # async code (coroutines have cr_frame).
    ("async_def", "async def f():\n    pass"),
    # The with statement (no context managers to abuse).
    ("with_statement", "with open(S, 'w') as fh:\n    pass"),
]


@pytest.mark.parametrize("case_id, template", CASES, ids=[c[0] for c in CASES])
def test_escape_fails_and_host_is_untouched(executor: RestrictedExecutor, tools: ToolLog,
                                            sentinel, case_id: str, template: str) -> None:
    """The block fails with an error; nothing on the host changed; the executor still works."""
    before = HostSnapshot.take()
    code = f"S = {str(sentinel)!r}\n" + template
    result = executor.run(code)
    assert result.error is not None, f"{case_id}: no error; output={result.output!r}"
    assert not sentinel.exists()
    after = HostSnapshot.take()
    assert after.environ == before.environ
    assert after.cwd == before.cwd
    assert after.threads == before.threads
    assert after.children == before.children
    assert executor.run("print(6 * 7)").output == "42\n"


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 60


def test_errors_name_the_rule(executor: RestrictedExecutor) -> None:
    """A forbidden attribute is reported as a security rule, with the line it is on."""
    result = executor.run("x = 1\ny = x.__class__")
    assert result.error_kind == "policy"
    assert result.error.startswith("SecurityError [attribute]: access to attribute '__class__'")
    assert result.line == 2


def test_disallowed_import_is_a_catchable_import_error(executor: RestrictedExecutor) -> None:
    """Research code probes optional modules with try/except ImportError: that keeps working."""
    result = executor.run("try:\n    import os\nexcept ImportError as e:\n    print('no os')")
    assert result.error is None
    assert result.output == "no os\n"


def test_tool_arguments_are_plain_copies(executor: RestrictedExecutor, tools: ToolLog) -> None:
    """A sandbox object with a __str__ never reaches a host function; lists are copied."""
    result = executor.run(
        "class Q:\n    def __str__(self):\n        return 'boom'\nweb_search(query=Q())")
    assert result.error is not None and "plain data" in result.error
    assert tools.calls == []
    executor.run("q = ['a']\nweb_search(query=q)\nq.append('b')")
    assert tools.calls[-1][2]["query"] == ["a"]


def test_tool_failure_is_a_short_message(tools: ToolLog) -> None:
    """The host's exception (and its objects) stays on the host; the code sees a message."""
    def broken(query: str) -> str:
        raise OSError(f"connection to {query} refused")

    ex = RestrictedExecutor(functions={"web_search": broken})
    try:
        result = ex.run(
            "try:\n    web_search('x')\nexcept ToolCallError as e:\n    print(type(e).__name__, e.args)")
        assert result.output == ("ToolCallError ('web_search failed: OSError: connection to x "
                                 "refused',)\n")
    finally:
        ex.close()


def test_time_bomb_objects_do_nothing_after_the_block(executor: RestrictedExecutor) -> None:
    """Objects left in the session cannot run code when the host touches them later."""
    executor.run("class A:\n    def __eq__(self, other):\n        print('ran')\n        return True\n"
                 "bomb = A()")
    bomb = executor._session.globals["bomb"]
    with pytest.raises(BaseException, match="only run inside"):
        bomb == 1  # noqa: B015 - the comparison itself is the test
    assert executor.run("print(bomb == 1)").output == "ran\nTrue\n"


def test_recursion_limit_of_host_is_unchanged(executor: RestrictedExecutor) -> None:
    """Deep recursion in the code neither changes nor exhausts the host's recursion limit."""
    limit = sys.getrecursionlimit()
    result = executor.run("def f(n):\n    return f(n + 1)\nf(0)")
    assert result.limit == "recursion_depth"
    assert sys.getrecursionlimit() == limit


def test_environment_is_invisible(executor: RestrictedExecutor) -> None:
    """No route to environment variables (API keys) exists."""
    os.environ["IISEARCH_TEST_SECRET"] = "hunter2"
    try:
        result = executor.run("import os\nprint(os.environ)")
        assert "hunter2" not in result.output and result.error is not None
    finally:
        del os.environ["IISEARCH_TEST_SECRET"]

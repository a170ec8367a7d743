"""The floor of `python -m bench --floor` answers the server's bytes: same statement, same wrapping."""

from __future__ import annotations

import asyncio
import urllib.error
from dataclasses import replace

import pytest

from bench import profile_native
from bench import queries as q
from bench.checks_floor import CHECKED_PROGRAM
from bench.data import Dataset, plan_for, prepare
from bench.floor import SERVER_ENV, fetch, floor_serving, spec_for
from bench.floor_app import Floor, Spec
from bench.server import serving

PAGES = {100: q.page(100), 10: q.page(10)}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return prepare(plan_for(2000, projects=5), cache=tmp_path_factory.mktemp("bench-cache"))


@pytest.fixture(scope="module")
def spec(dataset: Dataset) -> Spec:
    return spec_for(dataset, PAGES)


def test_the_floor_answers_the_servers_bytes_for_both_pages(dataset: Dataset, spec: Spec) -> None:
    headers = {"Content-Type": "application/json", "ApiKey": dataset.keys[dataset.largest_project]}
    with serving(dataset, workers=1) as server, floor_serving(dataset, spec, workers=1) as floor:
        for rows, page in zip(PAGES, spec.pages, strict=True):
            ours = fetch(server.url, page.body, headers)
            assert ours.startswith(b'{"data":{"whatsAppLogs":[{"id":')
            assert ours.count(b'"messageText"') == rows
            assert fetch(floor.url, page.body, headers) == ours


def test_the_checked_floor_answers_the_servers_bytes_and_checks_the_key(dataset: Dataset, spec: Spec) -> None:
    headers = {"Content-Type": "application/json", "ApiKey": dataset.keys[dataset.largest_project]}
    # A key of another project: authenticated, but the statement is not its project's.
    other = {**headers, "ApiKey": dataset.keys[dataset.typical_project]}
    checked = floor_serving(dataset, spec, workers=1, env=SERVER_ENV, program=CHECKED_PROGRAM)
    with serving(dataset, workers=1) as server, checked as floor:
        page = spec.pages[1]
        assert fetch(floor.url, page.body, headers) == fetch(server.url, page.body, headers)
        with pytest.raises(urllib.error.HTTPError) as refused:
            fetch(floor.url, page.body, other)
        with pytest.raises(urllib.error.HTTPError) as unknown:
            fetch(floor.url, page.body, {**headers, "ApiKey": "wal_" + "x" * 43})
    assert refused.value.code == unknown.value.code == 403


def test_a_floor_whose_bytes_differ_from_the_servers_does_not_start(spec: Spec) -> None:
    wrong = replace(spec.pages[1], suffix=spec.pages[1].suffix + b" ")
    floor = Floor(replace(spec, pages=[wrong]))

    async def start() -> None:
        try:
            await floor.start()
        finally:
            await floor.stop()

    with pytest.raises(RuntimeError, match="differs from the server's"):
        asyncio.run(start())


def test_perf_libraries_are_grouped_as_the_profile_reports_them() -> None:
    report = """
    44.49%  libpython3.11.so.1.0
    31.87%  libsqlite3.so.0.8.6
     0.28%  _sqlite3.cpython-311-x86_64-linux-gnu.so
    12.53%  libc.so.6
     6.84%  [kernel.kallsyms]
     1.50%  loop.cpython-311-x86_64-linux-gnu.so
     0.30%  libsomething-else.so
"""
    shares = profile_native.grouped(report)
    python, sqlite, libc = list(shares)[:3]
    assert (python, sqlite, libc) == ("Python interpreter (bytecode, objects)", "SQLite", libc)
    assert libc.startswith("C library")
    assert shares["SQLite"] == pytest.approx(0.3215)
    assert shares["kernel (system calls, network)"] == pytest.approx(0.0684)
    assert shares["uvloop"] == pytest.approx(0.015)
    assert shares[profile_native.OTHER] == pytest.approx(0.003)

# Copyright (c) mmx3d contributors. All rights reserved.
"""Open the built docs in headless Chromium and check navigation and search.

Serves ``docs/_build/html`` on localhost, loads the start page and a search
for a term in headless Chromium (Debian's ``chromium`` package; nothing is
downloaded), and checks that

* the start page renders the navigation with every guide page,
* every navigation link resolves to a page that exists,
* the search page, after its JavaScript ran, lists results for the term.

Example::

    make docs && python tools/docs/check_site.py --term X3DBackbone
"""
import argparse
import functools
import http.server
import os.path as osp
import re
import shutil
import subprocess
import tempfile
import threading

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def dump_dom(chromium: str, url: str, budget_ms: int = 8000) -> str:
    """The DOM of ``url`` after its scripts ran (headless Chromium)."""
    with tempfile.TemporaryDirectory() as profile:
        res = subprocess.run([
            chromium, '--headless', '--no-sandbox', '--disable-gpu',
            '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update',
            '--disable-sync', f'--user-data-dir={profile}',
            f'--virtual-time-budget={budget_ms}', '--dump-dom', url
        ], capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise RuntimeError(f'chromium failed on {url}: {res.stderr[-1000:]}')
    return res.stdout


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--html', default=osp.join(ROOT, 'docs/_build/html'))
    p.add_argument('--term', default='X3DBackbone')
    p.add_argument('--chromium', default=shutil.which('chromium')
                   or '/usr/bin/chromium')
    a = p.parse_args(argv)
    if not osp.isfile(osp.join(a.html, 'index.html')):
        raise SystemExit(f'{a.html}/index.html not found: run `make docs`')
    if not osp.exists(a.chromium):
        raise SystemExit('chromium not found: apt-get install chromium')
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=a.html)
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f'http://127.0.0.1:{server.server_address[1]}'
    try:
        index = dump_dom(a.chromium, f'{base}/index.html')
        links = set(re.findall(r'class="reference internal" href="([^"#]+)',
                               index))
        for page in ('overview', 'install', 'quickstart', 'training',
                     'config', 'model_zoo', 'ava', 'charades', 'benchmarks',
                     'api', 'faq', 'changelog'):
            assert f'{page}.html' in links, f'navigation lacks {page}.html'
        for link in sorted(links):
            assert osp.isfile(osp.join(a.html, link)), f'broken link {link}'
        search = dump_dom(a.chromium,
                          f'{base}/search.html?q={a.term}', budget_ms=15000)
        hits = re.findall(r'<li[^>]*>\s*<a href="([^"]+)"', search.split(
            'id="search-results"', 1)[-1])
        assert hits, f'search for {a.term!r} returned no results'
        print(f'navigation: {len(links)} internal links, all resolve')
        print(f'search {a.term!r}: {len(hits)} results, first: {hits[0]}')
    finally:
        server.shutdown()


if __name__ == '__main__':
    main()

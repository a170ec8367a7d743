#!/usr/bin/env bash
# Refreshes the self-hosted GraphiQL page's vendor files from the npm registry.
#
# GraphiQL 4 is the last major that ships a standalone (UMD) build usable from a <script> tag without a
# bundler; it expects React 18's UMD builds as globals (React 19 ships no UMD build). So the versions are
# pinned together here; bump them together and check the page with tests/test_graphiql_browser.py.
#
#   scripts/refresh_graphiql.sh            # the pinned versions below
#   GRAPHIQL_VERSION=4.1.2 REACT_VERSION=18.3.1 scripts/refresh_graphiql.sh
set -euo pipefail

GRAPHIQL_VERSION="${GRAPHIQL_VERSION:-4.1.2}"
REACT_VERSION="${REACT_VERSION:-18.3.1}"

root="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$root/graphql_api/http/static/graphiql/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
# `npm pack` fetches the published tarballs as they are: no install scripts run, nothing else is fetched.
npm pack --silent "graphiql@$GRAPHIQL_VERSION" "react@$REACT_VERSION" "react-dom@$REACT_VERSION" >/dev/null
unpack() { mkdir "$1" && tar -xzf "$1-$2.tgz" -C "$1" --strip-components=1; }
unpack graphiql "$GRAPHIQL_VERSION"
unpack react "$REACT_VERSION"
unpack react-dom "$REACT_VERSION"

rm -rf "$vendor"
mkdir -p "$vendor"
cp graphiql/graphiql.min.js graphiql/graphiql.min.css "$vendor/"
cp graphiql/LICENSE "$vendor/LICENSE.graphiql"
cp react/umd/react.production.min.js "$vendor/"
cp react/LICENSE "$vendor/LICENSE.react"
cp react-dom/umd/react-dom.production.min.js "$vendor/"
cp react-dom/LICENSE "$vendor/LICENSE.react-dom"
# The bundles end with a sourceMappingURL comment for maps we do not ship; drop it so browsers'
# developer tools do not ask this server for files that are not there.
sed -i -e 's|^//# sourceMappingURL=.*$||' -e 's|/\*# sourceMappingURL=.*\*/||' "$vendor"/*.min.js "$vendor"/*.min.css

{
  echo "# Written by scripts/refresh_graphiql.sh from the npm registry; do not edit by hand."
  echo "graphiql $GRAPHIQL_VERSION"
  echo "react $REACT_VERSION"
  echo "react-dom $REACT_VERSION"
  echo
  (cd "$vendor" && sha256sum -- *.js *.css)
} >"$vendor/VERSIONS"

echo "GraphiQL $GRAPHIQL_VERSION with React $REACT_VERSION written to ${vendor#"$root"/}" >&2

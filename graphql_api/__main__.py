import sys

from graphql_api.cli.commands import main

sys.exit(main())

"""`python -m transfer_keras.cli`: the `transfer-keras` command."""

import sys

from transfer_keras.cli import main

sys.exit(main())

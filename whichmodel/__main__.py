import sys

from whichmodel.cli import main

sys.exit(main())
